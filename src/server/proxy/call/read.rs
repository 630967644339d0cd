//! Stage 0 of a call: read its request. A surface peeks at the few fields it needs (the model, the limits
//! asked for) and passes the rest on unparsed.

use super::failures::not_json;
use crate::server::proxy::dialect::ProxyError;

/// A call's JSON body read as `T` (a surface's peek at it). The body must be a JSON object: serde reads a
/// struct from an array too, field by field, which no API takes, and a request passed on with a field
/// written in (the usage a stream is asked for, an image's billed size) has to be an object to take it.
pub fn read_request<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProxyError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(body).map_err(not_json),
        _ => match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(ProxyError::BadRequest("The request body must be a JSON object ({ ... }).".into())),
            Err(e) => Err(not_json(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Peek {
        #[serde(default)]
        model: Option<String>,
    }

    #[test]
    fn only_a_json_object_is_a_request() {
        let read = |body: &str| {
            read_request::<Peek>(body.as_bytes()).map_err(|e| match e {
                ProxyError::BadRequest(m) => m,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(read(" \n{\"model\": \"gpt-4o\"}").unwrap().model.as_deref(), Some("gpt-4o"));
        assert!(read(r#"["gpt-4o"]"#).unwrap_err().contains("must be a JSON object"), "read by position otherwise");
        assert!(read("42").unwrap_err().contains("must be a JSON object"));
        assert!(read("{not json").unwrap_err().contains("not valid JSON"));
        assert!(read("").unwrap_err().contains("not valid JSON"));
        assert!(read("[1,").unwrap_err().contains("not valid JSON"));
    }
}
