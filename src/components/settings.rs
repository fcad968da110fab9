//! Deploy-time and per-browser settings: `config.json` beside the page, the proxy's own configuration, what this
//! browser remembers (local and session storage), and the storage Sluice uses.

/// What `config.json` beside the page says: deploy-time configuration, no rebuild.
#[cfg(target_arch = "wasm32")]
pub(crate) struct SiteConfig {
    /// The proxy's base URL (`""`: this site's own origin), or why the file could not be used.
    pub proxy: Result<String, String>,
    /// OpenSearch Dashboards, for the finished card's Discover link.
    pub dashboards: Option<String>,
    /// The edge that runs imports with no tab open ([`crate::components::edge`]).
    pub edge: Option<String>,
}

/// Reads `config.json` (`{"proxy": "https://proxy.example.com", "dashboards": …, "edge": …}`). Without the file,
/// the proxy is the page's own origin (`sluice serve --site`) and there is no edge.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn site_config() -> SiteConfig {
    let same_origin = |proxy| SiteConfig {
        proxy,
        dashboards: None,
        edge: None,
    };
    let response = match gloo_net::http::Request::get("config.json").send().await {
        Ok(response) => response,
        // Offline or blocked: the same origin is the best guess, and the proxy check below reports the rest.
        Err(_) => return same_origin(Ok(String::new())),
    };
    if response.status() == 404 {
        return same_origin(Ok(String::new()));
    }
    let text = response.text().await.unwrap_or_default();
    if !response.ok() {
        return same_origin(Err(format!(
            "This site's config.json could not be read (HTTP {}); using this site's own address for the proxy.",
            response.status()
        )));
    }
    SiteConfig {
        proxy: parse_site_config(&text),
        dashboards: parse_dashboards(&text),
        edge: crate::components::edge::parse_edge(&text),
    }
}

/// Reads `config.json`: `{"proxy": "<base URL>"}`; an absent or empty `proxy` means the page's own origin.
pub fn parse_site_config(text: &str) -> Result<String, String> {
    let config: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("This site's config.json is not valid JSON ({e}); ask whoever deployed it to fix it."))?;
    match &config["proxy"] {
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::String(url)
            if url.is_empty() || url.starts_with("http://") || url.starts_with("https://") =>
        {
            Ok(url.trim_end_matches('/').to_string())
        }
        other => Err(format!(
            "This site's config.json names the proxy as {other}; it must be an http(s) URL such as \
             \"https://proxy.example.com\"."
        )),
    }
}

#[cfg(target_arch = "wasm32")]
#[derive(Clone, Copy)]
pub(crate) enum Storage {
    /// Kept across visits (settings).
    Local,
    /// Kept for this tab only (the token: a secret).
    Session,
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn web_storage(kind: Storage) -> Option<web_sys::Storage> {
    let window = web_sys::window()?;
    match kind {
        Storage::Local => window.local_storage().ok().flatten(),
        Storage::Session => window.session_storage().ok().flatten(),
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn stored(key: &str, kind: Storage) -> Option<String> {
    web_storage(kind)?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn store(key: &str, value: &str, kind: Storage) {
    if let Some(storage) = web_storage(kind) {
        let _ = storage.set_item(key, value);
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn forget(key: &str, kind: Storage) {
    if let Some(storage) = web_storage(kind) {
        let _ = storage.remove_item(key);
    }
}

/// `config.json`'s optional `"dashboards": "https://dashboards.example.com"`: where a finished import's card
/// links to (OpenSearch Dashboards' Discover).
pub fn parse_dashboards(text: &str) -> Option<String> {
    let config: serde_json::Value = serde_json::from_str(text).ok()?;
    config["dashboards"]
        .as_str()
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .map(|url| url.trim_end_matches('/').to_string())
}

/// What the proxy says about itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyInfo {
    /// Index patterns the browser may write to.
    pub patterns: Vec<String>,
    /// An analyst token is needed.
    pub token_required: bool,
    /// It creates indices (`sluice serve --allow-create-index`).
    pub create_index_allowed: bool,
}

/// The proxy's allowed index patterns and whether it needs a token.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn load_proxy_config(proxy: &str) -> Result<ProxyInfo, String> {
    let url = format!("{}/_sluice/config", proxy.trim_end_matches('/'));
    let response = gloo_net::http::Request::get(&url).send().await.map_err(|e| {
        format!("The Sluice proxy cannot be reached at {url} ({e}). Imports need it: ask your admin whether `sluice serve` is running.")
    })?;
    if !response.ok() {
        return Err(format!(
            "The Sluice proxy answered {} at {url}; imports need a working proxy.",
            response.status()
        ));
    }
    let config: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("The proxy's configuration is unreadable: {e}"))?;
    let patterns = config["allowed_indices"]
        .as_array()
        .map(|patterns| patterns.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok(ProxyInfo {
        patterns,
        token_required: config["token_required"].as_bool().unwrap_or(false),
        create_index_allowed: config["create_index_allowed"].as_bool().unwrap_or(false),
    })
}

/// True for a completed job whose last checkpoint is older than `oldest_kept` (ms since the epoch).
#[cfg(target_arch = "wasm32")]
pub(crate) fn expired(checkpoints: &[Option<sluice_engine::Checkpoint>], oldest_kept: f64) -> bool {
    let statuses: Vec<_> = checkpoints.iter().map(|c| c.as_ref().map(|c| c.status)).collect();
    let last = checkpoints.iter().flatten().map(|c| c.updated_at_ms).max().unwrap_or(0);
    sluice_engine::manifest::job_status(&statuses) == sluice_engine::JobStatus::Completed && (last as f64) < oldest_kept
}

/// How much of the browser's storage this site uses, in bytes (`navigator.storage.estimate()`).
#[cfg(target_arch = "wasm32")]
pub(crate) async fn storage_used() -> Option<f64> {
    use js_sys::Reflect;
    use wasm_bindgen::JsCast;
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
    let estimate = Reflect::get(&storage, &"estimate".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let promise = estimate.call0(&storage).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    let answer = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    Reflect::get(&answer, &"usage".into()).ok()?.as_f64()
}
