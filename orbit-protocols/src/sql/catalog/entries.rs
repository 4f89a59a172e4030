//! Secondary indexes as actors: how a row's index key is written, where an
//! index's entries live, and how the planner reads them.
//!
//! An index (`catalog::Index`) keeps one actor of kind `idx:<index oid>`
//! (`orbit-server`'s `IndexActor`) per distinct key: the row's indexed
//! values as the text of a JSON array, exactly as the row stores them, so
//! a key computed from a query's constants (coerced to the columns' types)
//! equals the key computed from a stored row. The entry holds the stored
//! keys of the rows carrying that key. A row with a NULL in any indexed
//! column is in no entry: NULLs never conflict in a unique index (NULLS
//! DISTINCT) and `=` never matches them.
//!
//! Entries change with their rows: a transaction stages entry changes
//! beside its rows (`crate::sql::exec::txn::Txn::index_writes`) and commits both in
//! one atomic group. An entry may name a row that no longer carries its
//! key (an index built while the table was written to): readers check
//! every row they fetch through an entry, so such a name is only garbage.

use crate::sql::catalog::{Index, Table};
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId, Invocation};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// Staged entry changes: (entry kind, key) → row key → present (`true`)
/// or removed (`false`).
pub(crate) type IndexWrites = BTreeMap<(String, String), BTreeMap<String, bool>>;

/// `row`'s key in `index`; `None` when an indexed column is NULL.
pub(crate) fn entry_key(index: &Index, row: &Map<String, Json>) -> Option<String> {
    let mut values = Vec::with_capacity(index.columns.len());
    for column in &index.columns {
        match row.get(column) {
            None | Some(Json::Null) => return None,
            Some(value) => values.push(value),
        }
    }
    serde_json::to_string(&values).ok()
}

/// The actor holding `index`'s entry for `key`.
pub(crate) fn entry_id(index: &Index, key: &str) -> ActorId {
    ActorId::new(index.entry_kind(), Bytes::copy_from_slice(key.as_bytes()))
}

/// A stored row key as an entry names it (row keys are primary-key text
/// or hidden row numbers, both UTF-8).
pub(crate) fn row_name(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// The rows a committed entry names.
pub(crate) async fn committed<G: ActorGateway>(
    gateway: &G,
    index: &Index,
    key: &str,
) -> Result<BTreeSet<String>, orbit_shared::Error> {
    match gateway.read_actor(entry_id(index, key)).await? {
        None => Ok(BTreeSet::new()),
        Some(state) => serde_json::from_slice(&state).map_err(|e| orbit_shared::Error::Storage {
            reason: format!("an entry of index \"{}\" does not decode: {e}", index.name),
        }),
    }
}

/// The calls that commit staged entry changes, one per entry.
pub(crate) fn commit_calls(writes: &IndexWrites) -> Vec<(ActorId, Invocation)> {
    writes
        .iter()
        .map(|((kind, key), rows)| {
            let (add, remove): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, present)| **present);
            let args = serde_json::json!({
                "add": add.into_iter().map(|(row, _)| row).collect::<Vec<_>>(),
                "remove": remove.into_iter().map(|(row, _)| row).collect::<Vec<_>>(),
            });
            let id = ActorId::new(kind.clone(), Bytes::copy_from_slice(key.as_bytes()));
            (id, Invocation::new("apply", Bytes::from(args.to_string())))
        })
        .collect()
}

/// Deletes every entry of `index` (DROP INDEX, DROP TABLE, a column
/// dropped from it, a failed build).
pub(crate) async fn clear<G: ActorGateway>(gateway: &G, index: &Index) -> Result<(), orbit_shared::Error> {
    let kind = index.entry_kind();
    loop {
        let page = gateway.list_actors(&kind, None, 500).await?;
        if page.actors.is_empty() {
            return Ok(());
        }
        let calls = page
            .actors
            .into_iter()
            .map(|a| (ActorId::new(kind.clone(), a.key), Invocation::new("clear", Bytes::new())))
            .collect();
        gateway.invoke_atomic(calls).await?;
    }
}

/// The index a query's `column = constant` conditions pin every column of
/// (a unique one first), and the key they pin; `pinned` maps column names
/// to values of the columns' types.
pub(crate) fn pinned<'a>(table: &'a Table, pinned: &Map<String, Json>) -> Option<(&'a Index, String)> {
    let mut found: Option<(&Index, String)> = None;
    for index in &table.indexes {
        if let Some(key) = entry_key(index, pinned)
            && found.as_ref().is_none_or(|(f, _)| !f.unique && index.unique)
        {
            found = Some((index, key));
        }
    }
    found
}

/// PostgreSQL's name for a new index of `table` on `columns`:
/// `<table>_<col>[_<col>...]_<suffix>`, cut to 63 bytes, numbered from 1
/// when `taken` already has it.
pub(crate) fn choose_name(table: &str, columns: &[String], suffix: &str, taken: &BTreeSet<String>) -> String {
    let stem = if columns.is_empty() { table.to_string() } else { format!("{table}_{}", columns.join("_")) };
    let fit = |extra: &str| {
        let mut stem = stem.clone();
        while stem.len() + 1 + suffix.len() + extra.len() > 63 {
            stem.pop();
        }
        format!("{stem}_{suffix}{extra}")
    };
    let mut name = fit("");
    let mut n = 0;
    while taken.contains(&name) {
        n += 1;
        name = fit(&n.to_string());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index(columns: &[&str], unique: bool) -> Index {
        Index {
            name: "i".into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            unique,
            constraint: false,
            primary: false,
            oid: 16500,
        }
    }

    fn row(value: Json) -> Map<String, Json> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_key_is_the_indexed_values_and_null_keeps_a_row_out() {
        let ab = index(&["a", "b"], false);
        assert_eq!(entry_key(&ab, &row(json!({"a": 1, "b": "x", "c": 2}))).as_deref(), Some("[1,\"x\"]"));
        assert_eq!(entry_key(&ab, &row(json!({"a": 1}))), None);
        assert_eq!(entry_key(&ab, &row(json!({"a": 1, "b": null}))), None);
        assert_eq!(entry_id(&ab, "[1]").kind, "idx:16500");
    }

    #[test]
    fn pins_choose_an_index_whose_columns_are_all_pinned_unique_first() {
        let mut table = Table {
            name: "t".into(),
            columns: Vec::new(),
            indexes: vec![index(&["a"], false), index(&["a", "b"], true)],
            ..Table::named("t")
        };
        table.indexes[1].name = "ab".into();
        let (chosen, key) = pinned(&table, &row(json!({"a": 1, "b": 2}))).unwrap();
        assert_eq!((chosen.name.as_str(), key.as_str()), ("ab", "[1,2]"));
        let (chosen, key) = pinned(&table, &row(json!({"a": 1}))).unwrap();
        assert_eq!((chosen.name.as_str(), key.as_str()), ("i", "[1]"));
        assert!(pinned(&table, &row(json!({"b": 1}))).is_none());
    }

    #[test]
    fn commit_calls_apply_additions_and_removals_per_entry() {
        let mut writes = IndexWrites::new();
        let entry = writes.entry(("idx:1".into(), "[1]".into())).or_default();
        entry.insert("a".into(), true);
        entry.insert("b".into(), false);
        let calls = commit_calls(&writes);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].1.method, "apply");
        let args: Json = serde_json::from_slice(&calls[0].1.args).unwrap();
        assert_eq!(args, json!({"add": ["a"], "remove": ["b"]}));
    }

    #[test]
    fn names_follow_postgresql() {
        let taken: BTreeSet<String> = ["t_a_idx".to_string()].into();
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(choose_name("t", &cols(&["a", "b"]), "key", &taken), "t_a_b_key");
        assert_eq!(choose_name("t", &cols(&["a"]), "idx", &taken), "t_a_idx1");
        let long = "x".repeat(70);
        assert_eq!(choose_name(&long, &cols(&["a"]), "idx", &taken).len(), 63);
    }
}
