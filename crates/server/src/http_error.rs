//! One way to put an HTTP client error into words for a person: the error and each of its causes.

/// `error: cause: deeper cause`, e.g. "error sending request: connection refused (os error 111)".
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
