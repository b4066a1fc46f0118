//! Request and response codes. Numbers follow RocketMQ's `RequestCode` and
//! `ResponseCode` where a counterpart exists, so logs read familiarly.

macro_rules! codes {
    ($(#[$doc:meta])* $ty:ident { $($(#[$vdoc:meta])* $name:ident = $val:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $ty {
            $($(#[$vdoc])* $name,)*
        }

        impl $ty {
            /// The code's number on the wire.
            pub const fn as_u16(self) -> u16 {
                match self { $(Self::$name => $val,)* }
            }

            /// The code for a wire number, or `None` if this build does not
            /// know it (the caller answers with an error, never panics).
            pub const fn from_u16(v: u16) -> Option<Self> {
                match v { $($val => Some(Self::$name),)* _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}({})", self, self.as_u16())
            }
        }
    };
}

codes!(
    /// What a request asks for.
    RequestCode {
        /// Append a batch of records to one queue.
        SendMessage = 10,
        /// Read records from one queue, optionally held until data arrives.
        PullMessage = 11,
        /// Messages of a topic by key or by unique id (index lookup).
        QueryMessage = 12,
        /// A consumer group's committed offset for one queue.
        QueryConsumerOffset = 14,
        /// Commit consumer offsets.
        UpdateConsumerOffset = 15,
        /// Create or update a topic on a broker.
        UpdateTopic = 17,
        /// First queue offset stored at or after a time.
        SearchOffsetByTimestamp = 29,
        /// A broker's runtime figures (version, uptime, TPS, store).
        GetBrokerRuntimeInfo = 28,
        /// Highest queue offset (exclusive) of a queue.
        GetMaxOffset = 30,
        /// Lowest queue offset still stored in a queue.
        GetMinOffset = 31,
        /// The record at a commit-log offset (an offset message id).
        ViewMessageById = 33,
        /// A client's groups and subscriptions (every 30 s).
        Heartbeat = 34,
        /// A client leaves its groups.
        UnregisterClient = 35,
        /// A consumer hands a failed message back for redelivery.
        ConsumerSendMsgBack = 36,
        /// Client ids of a consumer group.
        GetConsumerListByGroup = 38,
        /// Broker to client (oneway): a group's membership changed; rebalance.
        NotifyConsumerIdsChanged = 40,
        /// Lock queues for orderly consumption.
        LockBatchMq = 41,
        /// Release queue locks.
        UnlockBatchMq = 42,
        /// Create or update a subscription group.
        UpdateSubscriptionGroup = 200,
        /// Connections and subscriptions of a consumer group.
        GetConsumerConnectionList = 203,
        /// Delete a subscription group.
        DeleteSubscriptionGroup = 207,
        /// Broker to client (oneway): move to these offsets now.
        ResetOffsetNotify = 220,
        /// Reset a group's offsets on a topic to a point in time.
        ResetOffsetByTime = 222,
        /// Register a broker and its topics with a NameServer.
        RegisterBroker = 103,
        /// Remove a broker from a NameServer.
        UnregisterBroker = 104,
        /// Route of one topic.
        GetRouteInfoByTopic = 105,
        /// Every cluster and broker a NameServer knows.
        GetBrokerClusterInfo = 106,
        /// Per-queue min/max offsets of a topic on a broker.
        GetTopicStats = 202,
        /// Every topic a NameServer knows.
        GetAllTopicList = 206,
        /// Per-queue broker and consumer offsets of a group on a broker.
        GetConsumeStats = 208,
        /// Stop producers from choosing a broker (it keeps serving reads).
        WipeWritePerm = 205,
        /// Delete a topic from a broker.
        DeleteTopicInBroker = 215,
        /// Delete a topic from a NameServer's route table.
        DeleteTopicInNamesrv = 216,
        /// Let producers choose a broker again after [`Self::WipeWritePerm`].
        AddWritePerm = 327,
        /// Broker to controller: alive, with its epoch and log end; the
        /// answer is its group's master, epoch and in-sync set.
        BrokerHeartbeat = 904,
        /// A master's view of its slaves (RocketMQ `GET_BROKER_HA_STATUS`).
        GetBrokerHaStatus = 907,
        /// HA port, slave to master: start a replication session.
        HaHandshake = 950,
        /// HA port, slave to master: the commit log from an offset on.
        HaFetch = 951,
        /// HA port, slave to master: topics, groups and offsets to adopt.
        HaMetadata = 952,
        /// Broker port, admin to broker: fence, promote or demote it
        /// (`mqadmin promoteSlave`).
        HaRoleChange = 953,
        /// Master to controller: change its group's in-sync set.
        ControllerAlterSyncStateSet = 1001,
        /// Admin to controller: make a replica the master of its group.
        ControllerElectMaster = 1002,
        /// Broker to controller: join a group; the controller assigns the
        /// broker's id.
        ControllerRegisterBroker = 1003,
        /// Admin to controller: the controller nodes, Raft leader and term.
        ControllerGetMetadataInfo = 1005,
        /// Admin to controller: a group's replicas, master and in-sync set.
        ControllerGetSyncStateData = 1006,
        /// Admin to controller: a group's history of epochs.
        GetBrokerEpochCache = 1007,
        /// Admin to controller: forget retired replicas of a group.
        CleanBrokerData = 1011,
        /// Controller to controller: a Raft vote request.
        RaftVote = 1101,
        /// Controller to controller: Raft log entries (or a heartbeat).
        RaftAppendEntries = 1102,
        /// Controller to controller: a whole Raft snapshot.
        RaftInstallSnapshot = 1103,
    }
);

codes!(
    /// How a request went.
    ResponseCode {
        /// Done; the header is the request's response type.
        Success = 0,
        /// An unexpected server-side failure.
        SystemError = 1,
        /// The server is overloaded; try again later.
        SystemBusy = 2,
        /// The server does not know the request code.
        RequestCodeNotSupported = 3,
        /// The request's header or body is malformed or invalid.
        BadRequest = 4,
        /// Stored, but not flushed within the sync-flush timeout.
        FlushDiskTimeout = 10,
        /// Sync replication: fewer in-sync replicas than the minimum; not
        /// stored.
        SlaveNotAvailable = 11,
        /// Sync replication: stored on the master, but not on enough
        /// in-sync replicas within the timeout.
        FlushSlaveTimeout = 12,
        /// The message is invalid or too large.
        MessageIllegal = 13,
        /// The server is shutting down or the store refuses writes.
        ServiceNotAvailable = 14,
        /// The broker's permission forbids this operation.
        NoPermission = 16,
        /// The topic does not exist.
        TopicNotExist = 17,
        /// No message at the requested offset (yet).
        PullNotFound = 19,
        /// Pull again at once.
        PullRetryImmediately = 20,
        /// The requested offset is outside the queue; use the returned one.
        PullOffsetMoved = 21,
        /// A lookup found no message (view by id).
        QueryNotFound = 22,
        /// The store failed (fsync error) and refuses writes until restarted.
        StoreError = 40,
        /// The disk is too full to accept writes.
        DiskFull = 41,
        /// Controller: the request names a master epoch that is not the
        /// group's current one.
        ControllerFencedMasterEpoch = 2000,
        /// Controller: the request names an in-sync-set epoch that is not
        /// the group's current one.
        ControllerFencedSyncStateSetEpoch = 2001,
        /// Controller: the sender is not the group's master.
        ControllerInvalidMaster = 2002,
        /// Controller: the in-sync set asked for is not valid (an unknown
        /// replica, or without the master).
        ControllerInvalidReplicas = 2003,
        /// Controller: no replica can become master (none alive in the
        /// in-sync set).
        ControllerMasterNotAvailable = 2004,
        /// Controller: the request is not valid here.
        ControllerInvalidRequest = 2005,
        /// Controller: the broker named is not alive.
        ControllerBrokerNotAlive = 2006,
        /// Controller: this node is not the Raft leader; ask another.
        ControllerNotLeader = 2007,
        /// Controller: no such group or replica.
        ControllerBrokerMetadataNotExist = 2008,
        /// Controller: cleaning would remove a master or a live replica.
        ControllerInvalidCleanBrokerMetadata = 2009,
        /// Controller: the broker must register first.
        ControllerBrokerNeedToBeRegistered = 2010,
        /// Controller: the election could not be done.
        ControllerElectMasterFailed = 2012,
        /// Controller: the broker claims an id that is not its own.
        ControllerBrokerIdInvalid = 2014,
    }
);

impl ResponseCode {
    /// Whether a response with this code carries the request's typed response
    /// header rather than an [`crate::header::ErrorHeader`].
    pub const fn has_typed_header(self) -> bool {
        matches!(
            self,
            Self::Success
                | Self::FlushDiskTimeout
                | Self::FlushSlaveTimeout
                | Self::PullNotFound
                | Self::PullRetryImmediately
                | Self::PullOffsetMoved
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_is_none() {
        for c in [
            RequestCode::SendMessage,
            RequestCode::QueryMessage,
            RequestCode::SearchOffsetByTimestamp,
            RequestCode::ViewMessageById,
            RequestCode::DeleteTopicInNamesrv,
        ] {
            assert_eq!(RequestCode::from_u16(c.as_u16()), Some(c));
        }
        assert_eq!(
            ResponseCode::from_u16(21),
            Some(ResponseCode::PullOffsetMoved)
        );
        assert_eq!(RequestCode::QueryMessage.as_u16(), 12);
        assert_eq!(RequestCode::SearchOffsetByTimestamp.as_u16(), 29);
        assert_eq!(RequestCode::ViewMessageById.as_u16(), 33);
        assert_eq!(
            ResponseCode::from_u16(22),
            Some(ResponseCode::QueryNotFound)
        );
        assert!(!ResponseCode::QueryNotFound.has_typed_header());
        assert_eq!(RequestCode::from_u16(9999), None);
        assert_eq!(ResponseCode::from_u16(9999), None);
    }
}
