//! Closed sets of values the store keeps as fixed text (a revision's status,
//! a plugin's kind, an audit row's action and result, a change's action):
//! each is an enum with `as_str` for what is written and `FromStr` for what
//! is read back, so the rest of Core matches on variants, never on strings.

use sqlx::Row;
use sqlx::any::AnyRow;

/// A text that names none of the values of its set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected one of {expected})")]
pub struct UnknownValue {
    /// What kind of value was expected, e.g. `audit action`.
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// Every known text, comma-separated.
    pub expected: String,
}

/// The value of `all` whose name is `text`.
pub(crate) fn parse<T: Copy>(
    what: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
    text: &str,
) -> Result<T, UnknownValue> {
    all.iter()
        .copied()
        .find(|value| name(*value) == text)
        .ok_or_else(|| UnknownValue {
            what,
            value: text.to_owned(),
            expected: all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", "),
        })
}

/// Reads a text column as one of a closed set of values.
pub(crate) fn column<T>(row: &AnyRow, name: &str) -> sqlx::Result<T>
where
    T: std::str::FromStr<Err = UnknownValue>,
{
    let text: String = row.try_get(name)?;
    text.parse().map_err(|error| sqlx::Error::ColumnDecode {
        index: name.to_owned(),
        source: Box::new(error),
    })
}

#[cfg(test)]
mod tests {
    use super::super::audit::{AuditAction, AuditResult};
    use super::super::cluster::{ChangeAction, PluginChange};
    use super::super::plugins::{PluginKind, RevisionStatus};

    fn serde_name<T: serde::Serialize>(value: T) -> String {
        serde_json::to_value(value)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn every_value_reads_back_and_the_wire_name_is_the_stored_one() {
        for &action in AuditAction::ALL {
            assert_eq!(action.as_str().parse(), Ok(action));
            assert_eq!(serde_name(action), action.as_str());
        }
        for &result in AuditResult::ALL {
            assert_eq!(result.as_str().parse(), Ok(result));
            assert_eq!(serde_name(result), result.as_str());
        }
        for &status in RevisionStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            if let Some(wire) = status.install_status() {
                assert_eq!(serde_name(wire), status.as_str());
            }
        }
        for &kind in PluginKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        let error = "installed".parse::<RevisionStatus>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown revision status \"installed\" \
             (expected one of installing, active, rolled_back, rejected)"
        );
    }

    #[test]
    fn a_change_is_the_same_json_as_before() {
        // Cores of different versions share one database and read each other's changes
        let change = PluginChange {
            plugin_id: "com.a.b".into(),
            origin: "core-a".into(),
            action: ChangeAction::Uninstall,
        };
        let json = r#"{"plugin_id":"com.a.b","origin":"core-a","action":"uninstall"}"#;
        assert_eq!(serde_json::to_string(&change).unwrap(), json);
        assert_eq!(serde_json::from_str::<PluginChange>(json).unwrap(), change);
        assert_eq!(serde_name(ChangeAction::Install), "install");
        assert_eq!(serde_name(ChangeAction::Rollback), "rollback");
    }
}
