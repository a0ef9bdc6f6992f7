//! TOML tables as configs use them: a tag taken out, a table deserialised with the key of an
//! error kept, a parse error as one sentence naming its key and line.

use crate::ConfigError;

/// Takes the tag out of an internally tagged table. (serde's derived internally tagged enums
/// buffer their content and lose the key of an error; going through a table keeps it.)
pub fn split_tag<E: serde::de::Error>(
    mut table: toml::Table,
    tag: &str,
) -> Result<(String, toml::Table), E> {
    match table.remove(tag) {
        Some(toml::Value::String(s)) => Ok((s, table)),
        Some(v) => Err(E::custom(format!("`{tag}` must be a string, got {v}"))),
        None => Err(E::custom(format!("missing field `{tag}`"))),
    }
}

/// A TOML parse error of `text` as one sentence: the key on the offending line (or the table
/// whose header it is) and toml's message, with the line — not toml's multi-line picture of
/// the source.
pub fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let reason = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else { return ConfigError::new("", reason) };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or_default().trim();
    let key = match line.split_once('=') {
        Some((k, _)) => k.trim().trim_matches('"'),
        None => line.trim_matches(['[', ']', ' ']),
    };
    ConfigError::new(key, format!("{reason} (line {line_no})"))
}

/// Deserializes a table into `T`, keeping the name of the offending key in the message.
pub fn from_table<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    table: toml::Table,
) -> Result<T, E> {
    table
        .try_into()
        .map_err(|e: toml::de::Error| E::custom(e.to_string().trim().replace('\n', " ")))
}
