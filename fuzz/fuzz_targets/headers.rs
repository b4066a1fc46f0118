//! Every request and response header decoder, and the bodies decoded as
//! postcard lists: the first byte picks the type, the rest is the input.
#![no_main]

use ferromq_protocol::decode_header;
use ferromq_protocol::header::*;
use libfuzzer_sys::fuzz_target;

macro_rules! decoders {
    ($($t:ty),* $(,)?) => {
        &[$(|b: &[u8]| { let _ = decode_header::<$t>(b); }),*]
    };
}

const HEADERS: &[fn(&[u8])] = decoders![
    SendMessageRequest,
    SendMessageResponse,
    PullMessageRequest,
    PullMessageResponse,
    QueryConsumerOffsetRequest,
    QueryConsumerOffsetResponse,
    UpdateConsumerOffsetRequest,
    UpdateTopicRequest,
    DeleteTopicRequest,
    GetTopicStatsRequest,
    TopicStats,
    GetConsumeStatsRequest,
    ConsumeStats,
    GetMaxOffsetRequest,
    GetMinOffsetRequest,
    OffsetResponse,
    ControllerRegisterBroker,
    ControllerRegisterBrokerResponse,
    BrokerHeartbeat,
    GroupView,
    AlterSyncStateSet,
    ElectMasterRequest,
    ControllerMetadata,
    GetSyncStateDataRequest,
    SyncStateData,
    GetBrokerEpochRequest,
    BrokerEpochs,
    CleanBrokerDataRequest,
    HeartbeatRequest,
    UnregisterClientRequest,
    GetConsumerListRequest,
    ConsumerList,
    NotifyConsumerIdsChanged,
    SendMsgBackRequest,
    LockBatchRequest,
    LockBatchResponse,
    UnlockBatchRequest,
    UpdateSubscriptionGroupRequest,
    DeleteSubscriptionGroupRequest,
    GetConsumerConnectionsRequest,
    ConsumerConnections,
    ResetOffsetRequest,
    ResetOffsetResponse,
    ResetOffsetNotify,
    HaHandshake,
    HaHandshakeResponse,
    HaFetch,
    HaFetchResponse,
    HaStatusResponse,
    HaRoleChangeRequest,
    HaRoleChangeResponse,
    ErrorHeader,
    RegisterBrokerRequest,
    RegisterBrokerResponse,
    UnregisterBrokerRequest,
    GetRouteInfoRequest,
    TopicRouteData,
    ClusterInfo,
    DeleteTopicInNamesrvRequest,
    QueryMessageRequest,
    QueryMessageResponse,
    ViewMessageByIdRequest,
    SearchOffsetRequest,
    BrokerRuntimeInfo,
    WipeWritePermRequest,
    WritePermResponse,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let n = HEADERS.len() + 4;
    match usize::from(pick) % n {
        i if i < HEADERS.len() => HEADERS[i](rest),
        i if i == HEADERS.len() => {
            let _ = RegisterBrokerBody::decode(rest);
        }
        i if i == HEADERS.len() + 1 => {
            let _ = TopicList::decode(rest);
        }
        i if i == HEADERS.len() + 2 => {
            let _ = MetadataSnapshot::decode(rest);
        }
        _ => {
            let _ = SlaveOffsets::decode(rest);
        }
    }
});
