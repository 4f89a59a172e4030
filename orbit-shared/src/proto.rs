//! The gRPC protocol generated from `proto/orbit.proto`, with conversions
//! between its messages and the shared types.

#[allow(clippy::all, missing_docs)]
mod generated {
    tonic::include_proto!("orbit.v1");
}

pub use generated::*;

use crate::error::ErrorKind as Kind;
use crate::{Error, Reply};

impl From<Kind> for generated::ErrorKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::NotFound => Self::NotFound,
            Kind::InvalidArgument => Self::InvalidArgument,
            Kind::WrongType => Self::WrongType,
            Kind::Unavailable => Self::Unavailable,
            Kind::Timeout => Self::Timeout,
            Kind::Unauthenticated => Self::Unauthenticated,
            Kind::Internal => Self::Internal,
        }
    }
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        Failure {
            kind: generated::ErrorKind::from(error.kind()) as i32,
            message: error.to_string(),
            detail: serde_json::to_vec(error).unwrap_or_default().into(),
        }
    }
}

impl From<Failure> for Error {
    /// Rebuilds the typed error; falls back to the message when the detail is
    /// missing or from an unknown (newer) variant.
    fn from(failure: Failure) -> Self {
        if let Ok(error) = serde_json::from_slice::<Error>(&failure.detail) {
            return error;
        }
        let kind = match generated::ErrorKind::try_from(failure.kind) {
            Ok(generated::ErrorKind::NotFound) => Kind::NotFound,
            Ok(generated::ErrorKind::InvalidArgument) => Kind::InvalidArgument,
            Ok(generated::ErrorKind::WrongType) => Kind::WrongType,
            Ok(generated::ErrorKind::Unavailable) => Kind::Unavailable,
            Ok(generated::ErrorKind::Timeout) => Kind::Timeout,
            Ok(generated::ErrorKind::Unauthenticated) => Kind::Unauthenticated,
            _ => Kind::Internal,
        };
        Error::Actor { kind, message: failure.message }
    }
}

impl InvokeResponse {
    pub fn from_result(id: u64, result: Result<Reply, Error>) -> Self {
        let outcome = match result {
            Ok(reply) => invoke_response::Outcome::Value(reply.value),
            Err(error) => invoke_response::Outcome::Error(Failure::from(&error)),
        };
        InvokeResponse { id, outcome: Some(outcome) }
    }

    pub fn into_result(self) -> Result<Reply, Error> {
        match self.outcome {
            Some(invoke_response::Outcome::Value(value)) => Ok(Reply { value }),
            Some(invoke_response::Outcome::Error(failure)) => Err(failure.into()),
            None => Err(Error::Internal { reason: "response without outcome".into() }),
        }
    }
}

impl ListActorsResponse {
    pub fn from_result(result: Result<crate::ActorPage, Error>) -> Self {
        let outcome = match result {
            Ok(page) => list_actors_response::Outcome::Page(ActorPage {
                actors: page.actors.into_iter().map(|a| StoredActor { key: a.key, state: a.state }).collect(),
                cursor: page.cursor.unwrap_or_default(),
            }),
            Err(error) => list_actors_response::Outcome::Error(Failure::from(&error)),
        };
        ListActorsResponse { outcome: Some(outcome) }
    }

    pub fn into_result(self) -> Result<crate::ActorPage, Error> {
        match self.outcome {
            Some(list_actors_response::Outcome::Page(page)) => Ok(crate::ActorPage {
                actors: page
                    .actors
                    .into_iter()
                    .map(|a| crate::StoredActor { key: a.key, state: a.state })
                    .collect(),
                cursor: (!page.cursor.is_empty()).then_some(page.cursor),
            }),
            Some(list_actors_response::Outcome::Error(failure)) => Err(failure.into()),
            None => Err(Error::Internal { reason: "response without outcome".into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActorId;

    #[test]
    fn typed_errors_survive_the_wire() {
        let errors = [
            Error::UnknownKind { kind: "nope".into() },
            Error::MailboxFull { actor: ActorId::new("counter", vec![0, 1]), capacity: 4 },
            Error::invalid("increment would overflow"),
        ];
        for error in errors {
            let response = InvokeResponse::from_result(7, Err(error.clone()));
            assert_eq!(response.id, 7);
            assert_eq!(response.into_result(), Err(error));
        }
    }

    #[test]
    fn unknown_detail_falls_back_to_kind_and_message() {
        let failure = Failure {
            kind: generated::ErrorKind::Timeout as i32,
            message: "slow".into(),
            detail: "{\"FutureVariant\":{}}".into(),
        };
        let error = Error::from(failure);
        assert_eq!(error.kind(), Kind::Timeout);
        assert_eq!(error.to_string(), "slow");
    }
}
