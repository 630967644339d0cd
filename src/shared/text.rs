//! Filling a translated sentence's `{name}` slots with values, for text built outside a view (server
//! function errors, emails, pages' computed strings). Views put values into sentences with `t!`'s own
//! `{{ name }}` slots; both sentence kinds live in `locales/*.json`.

/// Replaces each `{name}` in `template` with its value; a slot without a value is left as written, so a
/// forgotten argument shows up in tests rather than vanishing.
pub fn fill(template: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let slot = after.find('}').and_then(|end| {
            let name = &after[..end];
            args.iter().find(|(n, _)| *n == name).map(|(_, value)| (value, end))
        });
        match slot {
            Some((value, end)) => {
                out.push_str(&value.to_string());
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn slots_take_their_values_in_any_order_and_unknown_slots_stay() {
        assert_eq!(fill("{b} then {a}", &[("a", &1), ("b", &"two")]), "two then 1");
        assert_eq!(fill("{missing} {a}", &[("a", &"x")]), "{missing} x");
        assert_eq!(fill("no slots {", &[]), "no slots {");
        assert_eq!(fill("「{name}」さん", &[("name", &"李")]), "「李」さん");
    }
}
