//! Validation failures of domain values, each naming the input field.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct DomainError {
    pub field: String,
    pub message: String,
}

impl DomainError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError {
            field: field.into(),
            message: message.into(),
        }
    }
}
