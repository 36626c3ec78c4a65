//! The languages a user reads, from the request's `Accept-Language`, and
//! picking a plugin's title in the best of them (a menu's `title_i18n`).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};

/// Language tags the user accepts, most wanted first (`q=0` ones dropped),
/// lower-cased with `_` read as `-`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Languages(Vec<String>);

impl Languages {
    /// The `Accept-Language` headers of a request.
    pub fn from_headers(headers: &HeaderMap) -> Languages {
        let values: Vec<&str> = headers
            .get_all(header::ACCEPT_LANGUAGE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Languages::parse(&values.join(","))
    }

    /// An `Accept-Language` value: `zh-CN, zh;q=0.9, en;q=0.5`. Entries
    /// without a tag, with `*`, or with a q-value that is not a number in
    /// (0, 1] are left out; equal q-values keep their written order.
    pub fn parse(value: &str) -> Languages {
        let mut wanted: Vec<(f32, String)> = Vec::new();
        for item in value.split(',') {
            let mut parts = item.split(';');
            let tag = normalize(parts.next().unwrap_or_default());
            if tag.is_empty() || tag == "*" {
                continue;
            }
            let mut q = Some(1.0);
            for param in parts {
                if let Some((name, value)) = param.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    q = value.trim().parse::<f32>().ok();
                }
            }
            match q {
                Some(q) if q > 0.0 && q <= 1.0 => wanted.push((q, tag)),
                _ => {}
            }
        }
        // a stable sort keeps the written order among equal q-values
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
        Languages(wanted.into_iter().map(|(_, tag)| tag).collect())
    }

    /// The best translation in `titles` (locale → text): for each language in
    /// turn, the same tag, else its base language (`zh` for `zh-CN`), else
    /// another region of that base (`zh-CN` for `zh` or `zh-TW`). Returns the
    /// locale as written in `titles` and the text; `None` when nothing fits
    /// (the caller falls back to the untranslated title). Empty texts do not
    /// count.
    pub fn pick<'a>(&self, titles: &'a BTreeMap<String, String>) -> Option<(&'a str, &'a str)> {
        let titles: Vec<(String, &'a str, &'a str)> = titles
            .iter()
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(locale, text)| (normalize(locale), locale.as_str(), text.as_str()))
            .collect();
        let found = |fits: &dyn Fn(&str) -> bool| {
            titles
                .iter()
                .find(|(tag, _, _)| fits(tag))
                .map(|(_, locale, text)| (*locale, *text))
        };
        self.0.iter().find_map(|want| {
            let base = base(want);
            found(&|tag| tag == want)
                .or_else(|| found(&|tag| tag == base))
                .or_else(|| found(&|tag| self::base(tag) == base))
        })
    }
}

/// `zh_CN` → `zh-cn`.
fn normalize(tag: &str) -> String {
    tag.trim().to_ascii_lowercase().replace('_', "-")
}

/// `zh-cn` → `zh`.
fn base(tag: &str) -> &str {
    tag.split('-').next().unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn pick(accept: &str, pairs: &[(&str, &str)]) -> Option<String> {
        let titles = titles(pairs);
        Languages::parse(accept)
            .pick(&titles)
            .map(|(_, text)| text.to_owned())
    }

    #[test]
    fn q_values_order_the_languages() {
        let got = Languages::parse("en;q=0.5, zh-CN, fr;q=0.8, de;q=0, *;q=0.1, ;q=1, it;q=x");
        assert_eq!(
            got,
            Languages(vec!["zh-cn".into(), "fr".into(), "en".into()])
        );
        assert_eq!(Languages::parse(""), Languages::default());
    }

    #[test]
    fn exact_then_base_then_sibling() {
        let both = [("zh-CN", "模板"), ("en", "Templates")];
        assert_eq!(pick("zh-CN", &both).as_deref(), Some("模板"));
        assert_eq!(pick("ZH_cn", &both).as_deref(), Some("模板"));
        assert_eq!(pick("zh", &both).as_deref(), Some("模板"));
        assert_eq!(pick("zh-TW, en;q=0.5", &both).as_deref(), Some("模板"));
        assert_eq!(pick("en-US", &both).as_deref(), Some("Templates"));
        assert_eq!(
            pick("en;q=0.9, zh-CN;q=0.8", &both).as_deref(),
            Some("Templates")
        );
        assert_eq!(pick("fr, zh;q=0.2", &both).as_deref(), Some("模板"));
        assert_eq!(pick("fr", &both), None);
        assert_eq!(pick("", &both), None);
        // the base language itself beats another region of it
        let regions = [("zh-TW", "範本"), ("zh", "模板")];
        assert_eq!(pick("zh-CN", &regions).as_deref(), Some("模板"));
        // the underscore form in the manifest matches too; empty texts do not count
        assert_eq!(pick("zh-CN", &[("zh_CN", "模板")]).as_deref(), Some("模板"));
        assert_eq!(pick("zh-CN", &[("zh-CN", " "), ("en", "T")]), None);
    }
}
