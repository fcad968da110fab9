//! Command-line pieces shared by `sluice import`, `sluice preview` and `sluice retry`: where documents go, how
//! CSV and TSV rows become documents, and the transforms applied on the way.

use std::time::Duration;

use clap::Args;
use sluice_engine::settings::CsvOptions;
use sluice_engine::transform::Transform;
use sluice_engine::FormatChoice;

use crate::import::sink::Auth;

/// Where documents go: straight to OpenSearch, or through a `sluice serve` proxy.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Send straight to this OpenSearch endpoint.
    #[arg(long, env = "OPENSEARCH_URL", conflicts_with = "proxy")]
    pub opensearch: Option<String>,
    /// OpenSearch user (basic auth).
    #[arg(long, env = "OPENSEARCH_USERNAME")]
    pub username: Option<String>,
    /// OpenSearch password (basic auth).
    #[arg(long, env = "OPENSEARCH_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Send through a `sluice serve` proxy at this URL.
    #[arg(long, env = "SLUICE_PROXY")]
    pub proxy: Option<String>,
    /// The proxy's analyst token.
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl TargetArgs {
    /// The base URL and credentials, or `None` when neither --opensearch nor --proxy was given.
    pub fn target(&self) -> Option<(String, Auth)> {
        match (&self.opensearch, &self.proxy) {
            (Some(url), _) => Some((
                url.trim_end_matches('/').to_string(),
                match (&self.username, &self.password) {
                    (Some(username), Some(password)) => Auth::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    },
                    _ => Auth::None,
                },
            )),
            (None, Some(url)) => Some((
                url.trim_end_matches('/').to_string(),
                self.token.clone().map_or(Auth::None, Auth::Bearer),
            )),
            (None, None) => None,
        }
    }
}

/// The HTTP client of the CLI's commands.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|error| format!("cannot set up HTTP: {error}"))
}

/// How CSV and TSV rows become documents. Given with `--format auto`, `--delimiter` or `--no-header` mean CSV.
#[derive(Debug, Clone, Default, Args)]
pub struct CsvArgs {
    /// The byte between cells when it is not the format's own: ';', '|', or "tab".
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<char>,
    /// The file has no header line: every line is a row; name the columns with --columns.
    #[arg(long, requires = "columns")]
    pub no_header: bool,
    /// The column names of a file without a header line: --columns id,name,price.
    #[arg(long, value_name = "NAMES", value_delimiter = ',', requires = "no_header")]
    pub columns: Vec<String>,
    /// Choose some columns' types instead of inferring them: --column-type price=double,zip=keyword (types:
    /// keyword, long, double, boolean, date).
    #[arg(long = "column-type", value_name = "NAME=TYPE")]
    pub column_types: Vec<String>,
    /// Every column is text (keyword), nothing inferred; --column-type still applies.
    #[arg(long)]
    pub all_strings: bool,
    /// Nest dotted column names: user.name becomes {"user":{"name":...}}.
    #[arg(long)]
    pub nest_dotted: bool,
}

impl CsvArgs {
    /// The options, checked; a malformed one is a usage error, named.
    pub fn options(&self) -> Result<CsvOptions, String> {
        let mut options = CsvOptions {
            delimiter: self.delimiter,
            columns: self.columns.iter().map(|name| name.trim().to_string()).collect(),
            all_strings: self.all_strings,
            nest_dotted: self.nest_dotted,
            ..CsvOptions::default()
        };
        for text in &self.column_types {
            let types = CsvOptions::parse_column_types(text).map_err(|message| format!("--column-type: {message}"))?;
            options.column_types.extend(types);
        }
        options
            .validate()
            .map_err(|message| format!("--delimiter/--columns: {message}"))?;
        Ok(options)
    }
}

/// `;`, `|`, `tab` or `\t`.
fn parse_delimiter(text: &str) -> Result<char, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok('\t'),
        _ => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(delimiter), None) if delimiter.is_ascii() && !matches!(delimiter, '"' | '\n' | '\r') => {
                    Ok(delimiter)
                }
                _ => Err(format!(
                    "'{text}' cannot be a delimiter: give one ASCII character other than a quote (';', '|') or \"tab\""
                )),
            }
        }
    }
}

/// The value parser of `--format`.
pub fn parse_format(text: &str) -> Result<FormatChoice, String> {
    FormatChoice::parse(text).ok_or_else(|| format!("unknown format '{text}': use {}", FormatChoice::NAMES))
}

/// Per-field transforms. They run in this order, whatever the order on the command line: renames, date parsing,
/// drops, keep, then the fields that are set (so a constant survives --keep).
#[derive(Debug, Clone, Default, Args)]
pub struct TransformArgs {
    /// Rename a field: --rename old=new (dotted paths; repeat for several).
    #[arg(long = "rename", value_name = "FROM=TO")]
    pub rename: Vec<String>,
    /// Parse a date field into ISO-8601: --parse-date FIELD or --parse-date FIELD=FORMAT (strftime, e.g.
    /// "%d/%m/%Y %H:%M", or epoch_millis / epoch_seconds).
    #[arg(long = "parse-date", value_name = "FIELD[=FORMAT]")]
    pub parse_date: Vec<String>,
    /// Remove a field (repeat, or separate with commas).
    #[arg(long = "drop", value_name = "FIELD", value_delimiter = ',')]
    pub drop: Vec<String>,
    /// Keep only these fields (comma-separated).
    #[arg(long = "keep", value_name = "FIELDS", value_delimiter = ',')]
    pub keep: Vec<String>,
    /// Set a field to a constant: --set region=EU (the value is JSON if it parses as JSON: 42, true, "x").
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// Set this field to the source's name (the object key or the file name).
    #[arg(long = "set-source-name", value_name = "FIELD")]
    pub set_source_name: Option<String>,
    /// Set this field to the import's start time (ISO-8601; the same for every record and every resume).
    #[arg(long = "set-import-time", value_name = "FIELD")]
    pub set_import_time: Option<String>,
}

impl TransformArgs {
    /// The transforms, in the documented order. A malformed argument is a usage error, named.
    pub fn transforms(&self) -> Result<Vec<Transform>, String> {
        let pair = |flag: &str, text: &str| -> Result<(String, String), String> {
            match text.split_once('=') {
                Some((left, right)) if !left.trim().is_empty() => Ok((left.trim().to_string(), right.to_string())),
                _ => Err(format!("--{flag} {text}: write it as NAME=VALUE")),
            }
        };
        let mut steps = Vec::new();
        for text in &self.rename {
            let (from, to) = pair("rename", text)?;
            steps.push(Transform::Rename {
                from,
                to: to.trim().to_string(),
            });
        }
        for text in &self.parse_date {
            let (field, format) = match text.split_once('=') {
                Some((field, format)) => (field.trim().to_string(), Some(format.to_string())),
                None => (text.trim().to_string(), None),
            };
            steps.push(Transform::ParseDate { field, format });
        }
        for field in self.drop.iter().filter(|f| !f.trim().is_empty()) {
            steps.push(Transform::Drop {
                field: field.trim().to_string(),
            });
        }
        let keep: Vec<String> = self
            .keep
            .iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        if !keep.is_empty() {
            steps.push(Transform::Keep { fields: keep });
        }
        for text in &self.set {
            let (field, value) = pair("set", text)?;
            steps.push(Transform::Set { field, value });
        }
        if let Some(field) = &self.set_source_name {
            steps.push(Transform::SetSourceName { field: field.clone() });
        }
        if let Some(field) = &self.set_import_time {
            steps.push(Transform::SetImportTime { field: field.clone() });
        }
        for step in &steps {
            step.validate()
                .map_err(|message| format!("transform '{}': {message}", step.describe()))?;
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_flags_become_transforms_in_the_documented_order() {
        let args = TransformArgs {
            rename: vec!["a=b".into()],
            parse_date: vec!["t=%d/%m/%Y".into(), "u".into()],
            drop: vec!["x".into(), "y".into()],
            keep: vec!["b".into(), "t".into()],
            set: vec!["region=EU".into()],
            set_source_name: Some("source".into()),
            set_import_time: None,
        };
        let steps = args.transforms().unwrap();
        let described: Vec<String> = steps.iter().map(Transform::describe).collect();
        assert_eq!(
            described,
            [
                "rename a → b",
                "parse t as a date (%d/%m/%Y)",
                "parse u as a date",
                "drop x",
                "drop y",
                "keep only b, t",
                "set region = EU",
                "set source = the source's name",
            ]
        );
        let bad = TransformArgs {
            rename: vec!["nothing".into()],
            ..TransformArgs::default()
        };
        assert!(bad.transforms().unwrap_err().contains("NAME=VALUE"));
    }
}
