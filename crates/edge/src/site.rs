//! The site's files as the Worker serves them. Cloudflare's assets binding sends the right `Content-Type`; workerd's
//! local disk service sends `application/octet-stream` for everything, which a browser refuses for scripts and
//! `WebAssembly.instantiateStreaming`. The type is then set from the file's extension.

/// The media type of a site file, from its path's extension.
pub fn content_type(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase())?;
    Some(match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_extensions() {
        assert_eq!(content_type("/index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(content_type("/sluice-web-1_bg.wasm"), Some("application/wasm"));
        assert_eq!(
            content_type("/a.b/sluice-worker.JS"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(content_type("/config.json"), Some("application/json"));
        assert_eq!(content_type("/README"), None);
    }
}
