//! Why the validator could not be set up.

use crate::schema::SchemaError;
use crate::topic::TopicError;

/// The validator could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The schema file cannot be read, parsed or compiled.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Topic(#[from] TopicError),
}
