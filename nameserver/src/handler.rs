//! Thin request handlers: decode the header (and the body of a
//! registration), call [`NameServer`], encode the reply. No input panics;
//! every failure is an error response.

use ferromq_protocol::header::{
    DeleteTopicInNamesrvRequest, Empty, GetAllTopicListRequest, GetClusterInfoRequest,
    GetRouteInfoRequest, RegisterBrokerBody, RegisterBrokerRequest, UnregisterBrokerRequest,
};
use ferromq_protocol::{decode_header, HeaderError, RequestCode, ResponseCode, Rpc};
use ferromq_remoting::{Handler, Request, Response};

use crate::service::NameServer;

/// Longest broker address accepted: a `host:port` never needs more, and the
/// address is echoed to every client in routes.
const MAX_ADDR_LEN: usize = 255;

impl Handler for NameServer {
    async fn handle(&self, req: Request) -> Response {
        self.dispatch(&req)
    }
}

impl NameServer {
    /// Answers one request synchronously: every NameServer operation is a
    /// short table update, so nothing here awaits.
    pub(crate) fn dispatch(&self, req: &Request) -> Response {
        let Some(code) = RequestCode::from_u16(req.code) else {
            return unsupported(&req.code);
        };
        match code {
            RequestCode::RegisterBroker => match decode::<RegisterBrokerRequest>(req) {
                Ok(h) if h.broker_addr.is_empty() || h.broker_addr.len() > MAX_ADDR_LEN => {
                    Response::error(
                        ResponseCode::BadRequest,
                        format!("broker address must be 1 to {MAX_ADDR_LEN} bytes long"),
                    )
                }
                // The topics are in the body; a body that does not decode
                // is refused before anything is registered.
                Ok(h) => match decode_register_body(req) {
                    Ok(body) => Response::ok(&self.register_broker(h, body.topics)),
                    Err(e) => e,
                },
                Err(e) => e,
            },
            RequestCode::UnregisterBroker => decode::<UnregisterBrokerRequest>(req)
                .map(|h| {
                    self.unregister_broker(&h);
                    Response::ok(&Empty {})
                })
                .unwrap_or_else(|e| e),
            RequestCode::GetRouteInfoByTopic => decode::<GetRouteInfoRequest>(req)
                .map(|h| match self.route(&h.topic) {
                    Some(route) => Response::ok(&route),
                    None => Response::error(
                        ResponseCode::TopicNotExist,
                        format!("no route for topic {}", h.topic),
                    ),
                })
                .unwrap_or_else(|e| e),
            RequestCode::GetBrokerClusterInfo => decode::<GetClusterInfoRequest>(req)
                .map(|_| Response::ok(&self.cluster_info()))
                .unwrap_or_else(|e| e),
            RequestCode::GetAllTopicList => decode::<GetAllTopicListRequest>(req)
                // The names travel in the body: there may be more than a
                // header holds.
                .map(|_| match self.topic_list().encode() {
                    Ok(body) => Response::ok(&Empty {}).with_body(body),
                    Err(e) => Response::error(
                        ResponseCode::SystemError,
                        format!("cannot encode response: {e}"),
                    ),
                })
                .unwrap_or_else(|e| e),
            RequestCode::DeleteTopicInNamesrv => decode::<DeleteTopicInNamesrvRequest>(req)
                .map(|h| {
                    self.delete_topic(&h.topic);
                    Response::ok(&Empty {})
                })
                .unwrap_or_else(|e| e),
            // Broker requests sent to a NameServer by mistake.
            other => unsupported(&other),
        }
    }
}

fn unsupported(code: &dyn std::fmt::Display) -> Response {
    Response::error(
        ResponseCode::RequestCodeNotSupported,
        format!("request code {code} is not supported by this NameServer"),
    )
}

/// The request's header as `R`, or the `BadRequest` answer.
fn decode<R: Rpc>(req: &Request) -> Result<R, Response> {
    decode_header::<R>(&req.header).map_err(|e| {
        Response::error(
            ResponseCode::BadRequest,
            format!("invalid {} header: {e}", R::CODE),
        )
    })
}

/// The topics of a registration (its body), or the `BadRequest` answer.
fn decode_register_body(req: &Request) -> Result<RegisterBrokerBody, Response> {
    RegisterBrokerBody::decode(&req.body).map_err(|e| {
        // The protocol's error says "header"; name the part that is wrong.
        let reason = match e {
            HeaderError::Malformed(e) => e.to_string(),
            other => other.to_string(),
        };
        Response::error(
            ResponseCode::BadRequest,
            format!("invalid {} body: {reason}", RequestCode::RegisterBroker),
        )
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ferromq_protocol::encode_header;
    use ferromq_protocol::header::{GetRouteInfoRequest, TopicConfig, PERM_READ_WRITE};
    use ferromq_protocol::{BrokerName, ClusterName, TopicName};

    use super::*;
    use crate::NameServerConfig;

    fn request(code: u16, header: Bytes) -> Request {
        Request {
            code,
            header,
            body: Bytes::new(),
            peer: ([127, 0, 0, 1], 1).into(),
            conn: ferromq_remoting::PeerHandle::detached(([127, 0, 0, 1], 1).into()),
        }
    }

    #[test]
    fn codes_map_to_the_right_responses() {
        let ns = NameServer::new(NameServerConfig::default());
        let route = encode_header(&GetRouteInfoRequest {
            topic: TopicName::new("t1").unwrap(),
        })
        .unwrap();
        let code = |c: u16, h: Bytes| ns.dispatch(&request(c, h)).code();

        assert_eq!(
            code(9999, Bytes::new()),
            ResponseCode::RequestCodeNotSupported
        );
        assert_eq!(
            code(RequestCode::SendMessage.as_u16(), Bytes::new()),
            ResponseCode::RequestCodeNotSupported
        );
        assert_eq!(code(105, route), ResponseCode::TopicNotExist);
        assert_eq!(
            code(105, Bytes::from_static(&[0xFF; 8])),
            ResponseCode::BadRequest
        );
        assert_eq!(code(206, Bytes::new()), ResponseCode::Success);
        assert_eq!(
            code(206, Bytes::from_static(&[1])),
            ResponseCode::BadRequest
        );
        assert_eq!(code(106, Bytes::new()), ResponseCode::Success);
        for c in [103, 104, 216] {
            assert_eq!(code(c, Bytes::new()), ResponseCode::BadRequest, "code {c}");
        }
    }

    #[test]
    fn registration_topics_come_from_the_body() {
        let ns = NameServer::new(NameServerConfig::default());
        let header = encode_header(&RegisterBrokerRequest {
            cluster: ClusterName::new("c1").unwrap(),
            broker_name: BrokerName::new("broker-a").unwrap(),
            broker_id: 0,
            broker_addr: "10.0.0.1:10911".into(),
            version: "0.1.0".into(),
            heartbeat_timeout_ms: None,
        })
        .unwrap();
        let mut req = request(103, header);
        // A good header without a body is refused and registers nothing.
        assert_eq!(ns.dispatch(&req).code(), ResponseCode::BadRequest);
        assert!(ns.cluster_info().live.is_empty());
        assert!(ns.topic_list().topics.is_empty());

        let t1 = TopicName::new("t1").unwrap();
        req.body = RegisterBrokerBody {
            topics: vec![TopicConfig {
                name: t1.clone(),
                read_queues: 4,
                write_queues: 4,
                perm: PERM_READ_WRITE,
            }],
        }
        .encode()
        .unwrap();
        assert_eq!(ns.dispatch(&req).code(), ResponseCode::Success);
        assert_eq!(ns.topic_list().topics, std::slice::from_ref(&t1));
        assert_eq!(ns.route(&t1).unwrap().queue_datas[0].read_queues, 4);
    }
}
