//! The one place a service error becomes a response code: the variant
//! chooses the code, its message is the client's text.

use ferromq_protocol::ResponseCode;
use ferromq_remoting::Response;

use crate::service::ServiceError;

impl From<ServiceError> for Response {
    fn from(e: ServiceError) -> Self {
        let code = match &e {
            ServiceError::TopicNotExist { .. } => ResponseCode::TopicNotExist,
            ServiceError::NoPermission(_) => ResponseCode::NoPermission,
            ServiceError::InvalidArgument(_) => ResponseCode::BadRequest,
            ServiceError::MessageIllegal(_) => ResponseCode::MessageIllegal,
            ServiceError::NotFound(_) => ResponseCode::QueryNotFound,
            ServiceError::Busy(_) | ServiceError::Stalled(_) => ResponseCode::SystemBusy,
            ServiceError::Poisoned(_) => ResponseCode::StoreError,
            ServiceError::DiskFull(_) => ResponseCode::DiskFull,
            ServiceError::SlaveNotAvailable(_) => ResponseCode::SlaveNotAvailable,
            ServiceError::ShuttingDown => ResponseCode::ServiceNotAvailable,
            ServiceError::Io { .. }
            | ServiceError::Store { .. }
            | ServiceError::Append(_)
            | ServiceError::Task { .. } => ResponseCode::SystemError,
        };
        Response::error(code, e.to_string())
    }
}
