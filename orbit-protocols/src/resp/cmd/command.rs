//! COMMAND as Redis 7.2 answers it, from the command table: the info of
//! every command (no subcommand), COUNT, LIST [FILTERBY MODULE | ACLCAT |
//! PATTERN], INFO (ACL categories, `movablekeys`, subcommands nested),
//! DOCS (empty documents) and GETKEYS (keys found as ACL checks find
//! them).

use crate::keyspace::glob;
use crate::keyspace::value::{Value, errors};
use crate::resp::acl::categories;
use crate::resp::acl::keys;
use crate::resp::table::{self, Spec};
use bytes::Bytes;

/// COMMAND [subcommand args...]: `args` follow the word COMMAND.
pub(crate) fn run(args: &[Bytes]) -> Value {
    let Some(first) = args.first() else { return all_info() };
    let Some(sub) = table::subcommand("command", first) else {
        return super::subcommand_error("command", first, &[]);
    };
    if !sub.arity_ok(args.len() + 1) {
        return Value::err(errors::arity(sub.name));
    }
    let rest = &args[1..];
    match sub.name {
        "command|count" => Value::Int(table::all().len() as i64),
        "command|list" => list(rest),
        "command|info" if rest.is_empty() => all_info(),
        "command|info" => Value::Array(rest.iter().map(|n| by_id(n).map_or(Value::Nil, info)).collect()),
        "command|docs" => docs(rest),
        "command|getkeys" => getkeys(rest),
        _ => super::subcommand_error("command", first, &[]),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every command, each container followed by its subcommands.
fn every() -> impl Iterator<Item = &'static Spec> {
    table::all().iter().flat_map(|s| std::iter::once(s).chain(table::subcommands_of(s.name)))
}

/// A command by name, or a subcommand as `container|sub`, in any case.
fn by_id(name: &[u8]) -> Option<&'static Spec> {
    let lower = text(&super::lower(name));
    match lower.split_once('|') {
        None => table::lookup(&lower),
        Some((container, sub)) => table::subcommand(container, sub.as_bytes()),
    }
}

fn all_info() -> Value {
    Value::Array(table::all().iter().map(info).collect())
}

/// COMMAND INFO's ten fields: name, arity, flags, first key, last key,
/// step, ACL categories, tips, key specifications, subcommands.
fn info(spec: &Spec) -> Value {
    let status = |s: &str| Value::Simple(s.to_string());
    let mut flags: Vec<Value> = spec.flag_names().into_iter().map(status).collect();
    if keys::key_count_at(spec.name).is_some() {
        flags.push(status("movablekeys"));
    }
    let acl = categories::names(categories::of(spec)).map(|c| Value::Simple(format!("@{c}"))).collect();
    let subs: Vec<Value> = table::subcommands_of(spec.name).map(info).collect();
    // As Redis: a command without subcommands has an empty set there.
    let subs = if subs.is_empty() { Value::Set(subs) } else { Value::Array(subs) };
    Value::Array(vec![
        Value::bulk(spec.name),
        Value::Int(i64::from(spec.arity)),
        Value::Set(flags),
        Value::Int(i64::from(spec.first_key)),
        Value::Int(i64::from(spec.last_key)),
        Value::Int(i64::from(spec.step)),
        Value::Set(acl),
        Value::Set(Vec::new()),
        Value::Array(Vec::new()),
        subs,
    ])
}

/// Which commands COMMAND LIST shows.
enum Filter {
    All,
    /// Orbit loads no modules: none.
    Module,
    /// Those in a category; none for an unknown one.
    Category(Option<u32>),
    /// Those whose id matches a glob, in any case.
    Pattern(Vec<u8>),
}

impl Filter {
    /// `[FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`.
    fn parse(args: &[Bytes]) -> Result<Filter, Value> {
        let [by, kind, arg] = args else {
            return if args.is_empty() { Ok(Filter::All) } else { Err(Value::err(errors::SYNTAX)) };
        };
        if super::lower(by) != b"filterby" {
            return Err(Value::err(errors::SYNTAX));
        }
        match super::lower(kind).as_slice() {
            b"module" => Ok(Filter::Module),
            b"aclcat" => Ok(Filter::Category(categories::category(&text(&super::lower(arg))))),
            b"pattern" => Ok(Filter::Pattern(super::lower(arg))),
            _ => Err(Value::err(errors::SYNTAX)),
        }
    }

    fn keeps(&self, spec: &Spec) -> bool {
        match self {
            Filter::All => true,
            Filter::Module => false,
            Filter::Category(mask) => mask.is_some_and(|m| categories::of(spec) & m != 0),
            Filter::Pattern(pattern) => glob::matches(pattern, spec.name.as_bytes()),
        }
    }
}

/// COMMAND LIST [FILTERBY ...]: command names and `container|sub` ids.
fn list(args: &[Bytes]) -> Value {
    match Filter::parse(args) {
        Ok(filter) => {
            Value::Array(every().filter(|s| filter.keeps(s)).map(|s| Value::bulk(s.name)).collect())
        }
        Err(e) => e,
    }
}

/// COMMAND DOCS [name ...]: Orbit carries no command documentation, so
/// each known command maps to an empty document.
fn docs(names: &[Bytes]) -> Value {
    let specs: Vec<&Spec> = if names.is_empty() {
        table::all().iter().collect()
    } else {
        names.iter().filter_map(|n| by_id(n)).collect()
    };
    Value::Map(specs.into_iter().map(|s| (Value::bulk(s.name), Value::Map(Vec::new()))).collect())
}

/// The command a line runs, as Redis looks it up: a container's
/// subcommand when one follows (`None` if unknown), else the command.
fn resolve(line: &[Bytes]) -> Option<&'static Spec> {
    let spec = table::lookup(&text(&super::lower(line.first()?)))?;
    match line.get(1) {
        Some(sub) if categories::is_container(spec.name) => table::subcommand(spec.name, sub),
        _ => Some(spec),
    }
}

/// COMMAND GETKEYS command arg...: the keys of that line.
fn getkeys(line: &[Bytes]) -> Value {
    let Some(spec) = resolve(line) else { return Value::err("ERR Invalid command specified") };
    if !keys::has_keys(spec) {
        return Value::err("ERR The command has no key arguments");
    }
    if !spec.arity_ok(line.len()) {
        return Value::err("ERR Invalid number of arguments specified for command");
    }
    let found = keys::key_access(spec, line);
    if found.is_empty() {
        return Value::err("ERR Invalid arguments specified for command");
    }
    Value::Array(found.into_iter().map(|(key, _)| Value::Bulk(key.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<Bytes> {
        line.split(' ').map(|w| Bytes::from(w.to_string())).collect()
    }

    fn names(reply: Value) -> Vec<String> {
        let Value::Array(items) = reply else { panic!("array: {reply:?}") };
        items
            .into_iter()
            .map(|v| if let Value::Bulk(b) = v { text(&b) } else { panic!("bulk: {v:?}") })
            .collect()
    }

    #[test]
    fn list_names_subcommands_and_filters_by_pattern_and_category() {
        let all = names(run(&argv("list")));
        assert!(all.iter().any(|n| n == "get") && all.iter().any(|n| n == "config|get"));
        let mut stores = names(run(&argv("list FILTERBY pattern Z*STORE")));
        stores.sort();
        assert_eq!(stores, ["zdiffstore", "zinterstore", "zrangestore", "zunionstore"]);
        let strings = names(run(&argv("list filterby aclcat STRING")));
        assert!(strings.iter().any(|n| n == "get") && !strings.iter().any(|n| n == "hset"));
        assert!(names(run(&argv("list filterby aclcat nope"))).is_empty());
        assert!(names(run(&argv("list filterby module json"))).is_empty());
        for bad in ["list filterby", "list filterby color red", "list pattern a", "list filterby pattern a b"]
        {
            assert_eq!(run(&argv(bad)), Value::err(errors::SYNTAX), "{bad}");
        }
    }

    #[test]
    fn info_reports_categories_movable_keys_and_subcommands() {
        let Value::Array(get) = info(table::lookup("get").unwrap()) else { panic!("array") };
        assert_eq!(get.len(), 10);
        let acl = ["@read", "@string", "@fast"].map(|c| Value::Simple(c.into())).to_vec();
        assert_eq!(get[6], Value::Set(acl));
        let Value::Array(lmpop) = info(table::lookup("lmpop").unwrap()) else { panic!("array") };
        let Value::Set(flags) = &lmpop[2] else { panic!("set") };
        assert!(flags.contains(&Value::Simple("movablekeys".into())));
        let Value::Array(config) = info(table::lookup("config").unwrap()) else { panic!("array") };
        let Value::Array(subs) = &config[9] else { panic!("subcommands") };
        let arity = |id: &str| {
            subs.iter().find_map(|s| match s {
                Value::Array(fields) if fields[0] == Value::bulk(id.to_string()) => Some(fields[1].clone()),
                _ => None,
            })
        };
        assert_eq!(arity("config|get"), Some(Value::Int(-3)));
        assert_eq!(get[9], Value::Set(Vec::new()), "no subcommands");
        let Value::Array(found) = run(&argv("info CONFIG|GET nope config|get|x")) else { panic!("array") };
        assert_eq!(found[0], info(table::subcommand("config", b"get").unwrap()));
        assert_eq!(found[1..], [Value::Nil, Value::Nil]);
    }

    #[test]
    fn getkeys_finds_keys_as_acl_checks_do() {
        let keys = |line: &str| run(&argv(&format!("getkeys {line}")));
        assert_eq!(names(keys("MSET a 1 b 2")), ["a", "b"]);
        assert_eq!(names(keys("zunionstore d 2 x y")), ["d", "x", "y"]);
        assert_eq!(names(keys("lmpop 2 a b left")), ["a", "b"]);
        assert_eq!(keys("ping"), Value::err("ERR The command has no key arguments"));
        assert_eq!(keys("config get x"), Value::err("ERR The command has no key arguments"));
        assert_eq!(keys("nope a"), Value::err("ERR Invalid command specified"));
        assert_eq!(keys("config nope"), Value::err("ERR Invalid command specified"));
        assert_eq!(keys("get a b"), Value::err("ERR Invalid number of arguments specified for command"));
        assert_eq!(keys("lmpop 0 a left"), Value::err("ERR Invalid arguments specified for command"));
    }

    #[test]
    fn subcommand_arity_and_unknown_subcommands_are_errors() {
        assert_eq!(
            run(&argv("count x")),
            Value::err("ERR wrong number of arguments for 'command|count' command")
        );
        assert_eq!(
            run(&argv("getkeys")),
            Value::err("ERR wrong number of arguments for 'command|getkeys' command")
        );
        assert_eq!(run(&argv("Nope")), Value::err("ERR unknown subcommand 'Nope'. Try COMMAND HELP."));
        assert_eq!(run(&argv("count")), Value::Int(table::all().len() as i64));
    }
}
