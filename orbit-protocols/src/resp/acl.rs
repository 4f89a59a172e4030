//! ACL users: their passwords and the commands, keys and channels they may
//! use, set by ACL SETUSER rules applied in order (Redis 7.2's, without
//! selectors), described as ACL LIST shows them, and checked before every
//! command a client sends.
//!
//! | file | concept |
//! |---|---|
//! | `categories.rs` | command ids (subcommands included) and their categories |
//! | `keys.rs` | the keys of a command line and the access each needs |
//! | `log.rs` | ACL LOG: the refusals, grouped |

pub mod categories;
pub(crate) mod keys;
pub mod log;

use super::server::lock;
use super::table::{NOAUTH, Spec};
use crate::keyspace::glob;
use bytes::Bytes;
use sha2::Digest;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// What a key pattern grants, or what a command needs of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    pub const READ: Access = Access(1);
    pub const WRITE: Access = Access(2);
    pub const BOTH: Access = Access(3);

    fn covers(self, need: Access) -> bool {
        self.0 & need.0 == need.0
    }

    fn and(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }
}

/// Why a command was refused (ACL LOG's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// A refusal by [`Permissions::check`]: the command id, key or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub reason: Reason,
    pub object: String,
}

impl Denied {
    /// The error reply, Redis' text.
    pub fn reply(&self, user: &str) -> String {
        match self.reason {
            Reason::Command => {
                format!("NOPERM User {user} has no permissions to run the '{}' command", self.object)
            }
            Reason::Key => "NOPERM No permissions to access a key".into(),
            Reason::Channel | Reason::Auth => "NOPERM No permissions to access a channel".into(),
        }
    }

    /// ACL DRYRUN's answer, naming the key or channel.
    pub fn verbose(&self, user: &str) -> String {
        let object = &self.object;
        match self.reason {
            Reason::Command => format!("User {user} has no permissions to run the '{object}' command"),
            Reason::Key => format!("User {user} has no permissions to access the '{object}' key"),
            Reason::Channel | Reason::Auth => {
                format!("User {user} has no permissions to access the '{object}' channel")
            }
        }
    }
}

/// Why ACL SETUSER refused a rule; [`RuleError::text`] is Redis' text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    Unknown,
    KeyAfterAllKeys,
    ChannelAfterAllChannels,
    NoSuchPassword,
    BadHash,
    FirstArg,
    Selectors,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::KeyAfterAllKeys => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelAfterAllChannels => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
            }
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
            }
            RuleError::FirstArg => "Rules on a command's first argument are not supported",
            RuleError::Selectors => "Selectors are not supported",
        }
    }
}

/// An ACL user.
#[derive(Debug, Clone)]
pub struct AclUser {
    pub name: String,
    pub enabled: bool,
    /// Any password is accepted (`nopass`).
    pub nopass: bool,
    /// SHA-256 of each password, lower-case hex, in the order added.
    pub passwords: Vec<String>,
    /// Shared with the connections authenticated as this user; rules
    /// replace it.
    pub perms: Arc<Permissions>,
}

impl AclUser {
    /// A user as ACL SETUSER creates it: off, no password, no permission.
    pub fn new(name: &str) -> Self {
        AclUser {
            name: name.into(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            perms: Arc::default(),
        }
    }

    /// An enabled user with every permission and `password` (`None`:
    /// `nopass`): the default user, and the users of `[resp] users`.
    pub fn unrestricted(name: &str, password: Option<&str>) -> Self {
        let mut user =
            AclUser { enabled: true, perms: Arc::new(Permissions::everything()), ..AclUser::new(name) };
        user.set_requirepass(password);
        user
    }

    /// What `requirepass` does to the default user: its passwords become
    /// `password`, or `nopass` when there is none.
    pub fn set_requirepass(&mut self, password: Option<&str>) {
        self.passwords.clear();
        self.nopass = password.is_none();
        self.passwords.extend(password.map(hash));
    }

    pub fn password_matches(&self, password: &[u8]) -> bool {
        self.nopass || self.passwords.contains(&hash_bytes(password))
    }

    /// Applies one ACL SETUSER rule.
    pub fn apply(&mut self, rule: &str) -> Result<(), RuleError> {
        match rule.to_ascii_lowercase().as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "reset" => *self = AclUser::new(&self.name),
            _ => {
                return self
                    .apply_password(rule)
                    .unwrap_or_else(|| Arc::make_mut(&mut self.perms).apply(rule));
            }
        }
        Ok(())
    }

    /// A password rule (`>`, `<`, `#`, `!`); `None` for another rule.
    fn apply_password(&mut self, rule: &str) -> Option<Result<(), RuleError>> {
        let (op, rest) = (rule.chars().next()?, rule.get(1..)?);
        let hashed = match op {
            '>' | '<' => hash(rest),
            '#' | '!' if is_hash(rest) => rest.to_string(),
            '#' | '!' => return Some(Err(RuleError::BadHash)),
            _ => return None,
        };
        let present = self.passwords.iter().position(|p| *p == hashed);
        Some(match (op, present) {
            ('>' | '#', Some(_)) => {
                self.nopass = false;
                Ok(())
            }
            ('>' | '#', None) => {
                self.nopass = false;
                self.passwords.push(hashed);
                Ok(())
            }
            (_, Some(i)) => {
                self.passwords.remove(i);
                Ok(())
            }
            (_, None) => Err(RuleError::NoSuchPassword),
        })
    }

    /// `on` or `off`, then `nopass` if set (ACL GETUSER's flags).
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        flags
    }

    /// The ACL LIST line: `user alice on #<sha256> ~cache:* resetchannels -@all +get`.
    pub fn describe(&self) -> String {
        let mut words = vec!["user".to_string(), self.name.clone()];
        words.extend(self.flags().into_iter().map(String::from));
        words.extend(self.passwords.iter().map(|p| format!("#{p}")));
        let keys = self.perms.describe_keys();
        words.extend((!keys.is_empty()).then_some(keys));
        if !self.perms.channels.all {
            words.push("resetchannels".into());
        }
        let channels = self.perms.describe_channels();
        words.extend((!channels.is_empty()).then_some(channels));
        words.push(self.perms.describe_commands());
        words.join(" ")
    }
}

/// SHA-256 of a password, lower-case hex: how users keep passwords.
fn hash(password: &str) -> String {
    hash_bytes(password.as_bytes())
}

fn hash_bytes(password: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(password))
}

fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a user may run, and on which keys and channels.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    commands: Commands,
    keys: Keys,
    channels: Channels,
}

#[derive(Debug, Clone, Default)]
struct Commands {
    /// The command ids allowed ([`categories::commands`]).
    allowed: HashSet<&'static str>,
    /// Started from `+@all`: ACL LIST begins with `+@all`, else `-@all`.
    all: bool,
    /// The rules since, as ACL LIST shows them: a later rule on the same
    /// command or category replaces an earlier one.
    rules: Vec<(bool, String)>,
}

#[derive(Debug, Clone, Default)]
struct Keys {
    all: bool,
    patterns: Vec<(Access, String)>,
}

#[derive(Debug, Clone, Default)]
struct Channels {
    all: bool,
    patterns: Vec<String>,
}

impl Permissions {
    /// `~* &* +@all`.
    pub fn everything() -> Self {
        let mut perms = Permissions::default();
        perms.commands.set_all(true);
        perms.keys.all = true;
        perms.channels.all = true;
        perms
    }

    /// Whether nothing is refused: the check can be skipped.
    pub fn allows_everything(&self) -> bool {
        self.keys.all && self.channels.all && self.commands.allowed.len() == categories::commands().len()
    }

    /// Applies a key, channel or command rule.
    fn apply(&mut self, rule: &str) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" => return self.keys.add(Access::BOTH, "*"),
            "resetkeys" => self.keys = Keys::default(),
            "allchannels" => return self.channels.add("*"),
            "resetchannels" => self.channels = Channels::default(),
            "allcommands" => self.commands.set_all(true),
            "nocommands" => self.commands.set_all(false),
            "clearselectors" => {}
            _ => return self.apply_prefixed(rule, &lower),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &str, lower: &str) -> Result<(), RuleError> {
        let rest = rule.get(1..).unwrap_or_default();
        match rule.chars().next() {
            Some('~') => self.keys.add(Access::BOTH, rest),
            Some('%') => {
                let (access, pattern) = parse_key_rule(rest)?;
                self.keys.add(access, pattern)
            }
            Some('&') => self.channels.add(rest),
            Some('+') => self.commands.apply(true, &lower[1..]),
            Some('-') => self.commands.apply(false, &lower[1..]),
            Some('(') => Err(RuleError::Selectors),
            _ => Err(RuleError::Syntax),
        }
    }

    /// Whether `spec` may run with `argv`: the command, then its keys, then
    /// its channels. Commands that authenticate are always allowed.
    pub fn check(&self, spec: &Spec, argv: &[Bytes]) -> Result<(), Denied> {
        if spec.flags & NOAUTH != 0 {
            return Ok(());
        }
        let id = categories::command_id(spec.name, argv);
        if !self.commands.allowed.contains(id) {
            return Err(Denied { reason: Reason::Command, object: id.to_string() });
        }
        if !self.keys.all {
            for (key, need) in keys::key_access(spec, argv) {
                if !self.keys.allows(key, need) {
                    return Err(Denied { reason: Reason::Key, object: text(key) });
                }
            }
        }
        if !self.channels.all {
            let (channels, patterns) = channels_of(spec, argv);
            if let Some(refused) = channels.iter().find(|c| !self.channels.allows(c, patterns)) {
                return Err(Denied { reason: Reason::Channel, object: text(refused) });
            }
        }
        Ok(())
    }

    /// ACL GETUSER's `commands`: `+@all -@dangerous +flushdb`.
    pub fn describe_commands(&self) -> String {
        let mut words = vec![if self.commands.all { "+@all" } else { "-@all" }.to_string()];
        words.extend(self.commands.rules.iter().map(|(allow, name)| format!("{}{name}", sign(*allow))));
        words.join(" ")
    }

    /// ACL GETUSER's `keys`: `~*`, or the patterns (`%R~ro:* ~cache:*`).
    pub fn describe_keys(&self) -> String {
        if self.keys.all {
            return "~*".into();
        }
        let shown = self.keys.patterns.iter().map(|(access, pattern)| match *access {
            Access::READ => format!("%R~{pattern}"),
            Access::WRITE => format!("%W~{pattern}"),
            _ => format!("~{pattern}"),
        });
        shown.collect::<Vec<_>>().join(" ")
    }

    /// ACL GETUSER's `channels`: `&*`, or the patterns (`&news:*`).
    pub fn describe_channels(&self) -> String {
        if self.channels.all {
            return "&*".into();
        }
        self.channels.patterns.iter().map(|p| format!("&{p}")).collect::<Vec<_>>().join(" ")
    }
}

fn sign(allow: bool) -> char {
    if allow { '+' } else { '-' }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `R~pattern`, `W~pattern`, `RW~pattern` (after the `%`).
fn parse_key_rule(rule: &str) -> Result<(Access, &str), RuleError> {
    let (flags, pattern) = rule.split_once('~').ok_or(RuleError::Syntax)?;
    let mut access = Access(0);
    for flag in flags.chars() {
        access = access.and(match flag.to_ascii_uppercase() {
            'R' => Access::READ,
            'W' => Access::WRITE,
            _ => return Err(RuleError::Syntax),
        });
    }
    if access == Access(0) {
        return Err(RuleError::Syntax);
    }
    Ok((access, pattern))
}

/// The channels a command names, and whether they are patterns
/// (PSUBSCRIBE). Unsubscribing needs no permission.
fn channels_of<'a>(spec: &Spec, argv: &'a [Bytes]) -> (&'a [Bytes], bool) {
    let rest = argv.get(1..).unwrap_or_default();
    match spec.name {
        "publish" | "spublish" => (rest.get(..1).unwrap_or_default(), false),
        "subscribe" | "ssubscribe" => (rest, false),
        "psubscribe" => (rest, true),
        _ => (&[], false),
    }
}

impl Commands {
    /// `+@all` (`allcommands`) or `-@all` (`nocommands`): starts over.
    fn set_all(&mut self, allow: bool) {
        self.allowed.clear();
        if allow {
            self.allowed.extend(categories::commands().iter().map(|c| c.id));
        }
        self.all = allow;
        self.rules.clear();
    }

    /// `+name`/`-name` (lower case): a command, a subcommand
    /// (`config|get`) or a category (`@read`).
    fn apply(&mut self, allow: bool, name: &str) -> Result<(), RuleError> {
        if name == "@all" {
            self.set_all(allow);
            return Ok(());
        }
        let ids = match name.strip_prefix('@') {
            Some(category) => category_ids(category)?,
            None => command_ids(name)?,
        };
        for id in ids {
            if allow {
                self.allowed.insert(id);
            } else {
                self.allowed.remove(id);
            }
        }
        self.record(allow, name);
        Ok(())
    }

    /// Keeps `name`'s latest rule only; a rule on a container replaces
    /// the rules on its subcommands.
    fn record(&mut self, allow: bool, name: &str) {
        let sub_prefix = format!("{name}|");
        self.rules.retain(|(_, rule)| rule != name && !rule.starts_with(&sub_prefix));
        self.rules.push((allow, name.to_string()));
    }
}

fn category_ids(category: &str) -> Result<Vec<&'static str>, RuleError> {
    let mask = categories::category(category).ok_or(RuleError::Unknown)?;
    Ok(categories::commands().iter().filter(|c| c.categories & mask != 0).map(|c| c.id).collect())
}

fn command_ids(name: &str) -> Result<Vec<&'static str>, RuleError> {
    if let Some(ids) = categories::rule_ids(name) {
        return Ok(ids);
    }
    match name.split_once('|') {
        Some((_, "")) => Err(RuleError::Syntax),
        Some((command, _))
            if categories::rule_ids(command).is_some() && !categories::is_container(command) =>
        {
            Err(RuleError::FirstArg)
        }
        _ => Err(RuleError::Unknown),
    }
}

impl Keys {
    fn add(&mut self, access: Access, pattern: &str) -> Result<(), RuleError> {
        if pattern == "*" && access == Access::BOTH {
            self.all = true;
            self.patterns.clear();
            return Ok(());
        }
        if self.all {
            return Err(RuleError::KeyAfterAllKeys);
        }
        match self.patterns.iter_mut().find(|(_, p)| p == pattern) {
            Some((granted, _)) => *granted = granted.and(access),
            None => self.patterns.push((access, pattern.to_string())),
        }
        Ok(())
    }

    /// One pattern must match the key and grant all that is needed.
    fn allows(&self, key: &[u8], need: Access) -> bool {
        self.all || self.patterns.iter().any(|(a, p)| a.covers(need) && glob::matches(p.as_bytes(), key))
    }
}

impl Channels {
    fn add(&mut self, pattern: &str) -> Result<(), RuleError> {
        if pattern == "*" {
            self.all = true;
            self.patterns.clear();
            return Ok(());
        }
        if self.all {
            return Err(RuleError::ChannelAfterAllChannels);
        }
        if !self.patterns.iter().any(|p| p == pattern) {
            self.patterns.push(pattern.to_string());
        }
        Ok(())
    }

    /// A channel matches a permitted pattern; a pattern (PSUBSCRIBE) must
    /// be one of them, literally.
    fn allows(&self, channel: &[u8], is_pattern: bool) -> bool {
        let permits = |p: &String| {
            if is_pattern { p.as_bytes() == channel } else { glob::matches(p.as_bytes(), channel) }
        };
        self.all || self.patterns.iter().any(permits)
    }
}

/// A connection's copy of its user's permissions, reloaded when the users
/// changed (`epoch`) or the connection authenticated as someone else.
#[derive(Debug, Default)]
pub struct Cached {
    /// The users' epoch loaded; 0: never loaded (epochs start at 1).
    epoch: u64,
    user: String,
    /// `None`: the user no longer exists, nothing is allowed.
    perms: Option<Arc<Permissions>>,
}

impl Cached {
    /// The permissions of `user`, as of `epoch`.
    pub fn get(
        &mut self,
        users: &Mutex<BTreeMap<String, AclUser>>,
        epoch: u64,
        user: &str,
    ) -> Option<&Permissions> {
        if !self.is_fresh(epoch, user) {
            self.perms = lock(users).get(user).map(|u| u.perms.clone());
            self.user = user.to_string();
            self.epoch = epoch;
        }
        self.perms.as_deref()
    }

    /// Whether the copy is of `user` as of `epoch` and allows everything.
    pub fn unrestricted(&self, epoch: u64, user: &str) -> bool {
        self.is_fresh(epoch, user) && self.perms.as_ref().is_some_and(|p| p.allows_everything())
    }

    fn is_fresh(&self, epoch: u64, user: &str) -> bool {
        self.epoch == epoch && self.user == user
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::table;

    fn user(rules: &str) -> AclUser {
        let mut user = AclUser::new("alice");
        for rule in rules.split_whitespace() {
            user.apply(rule).unwrap_or_else(|e| panic!("{rule}: {}", e.text()));
        }
        user
    }

    fn check(user: &AclUser, line: &str) -> Result<(), Denied> {
        let argv: Vec<Bytes> = line.split(' ').map(|w| Bytes::from(w.to_string())).collect();
        let spec = table::lookup(&line.split(' ').next().unwrap().to_ascii_lowercase()).unwrap();
        user.perms.check(spec, &argv)
    }

    fn refused(user: &AclUser, line: &str) -> Option<Reason> {
        check(user, line).err().map(|d| d.reason)
    }

    #[test]
    fn rules_apply_in_order() {
        let u = user("on +@all -@dangerous +flushdb ~*");
        assert_eq!(refused(&u, "flushall"), Some(Reason::Command));
        assert_eq!(refused(&u, "keys *"), Some(Reason::Command));
        assert_eq!(refused(&u, "flushdb"), None);
        assert_eq!(refused(&u, "get k"), None);
        assert_eq!(refused(&u, "acl whoami"), None, "acl|whoami is not dangerous");
        assert_eq!(check(&u, "acl setuser x").unwrap_err().object, "acl|setuser");
        assert_eq!(u.perms.describe_commands(), "+@all -@dangerous +flushdb");
    }

    #[test]
    fn keys_are_checked_by_pattern_and_access() {
        let u = user("+@all ~cache:* %R~ro:* %W~wo:*");
        assert_eq!(refused(&u, "get cache:1"), None);
        assert_eq!(refused(&u, "get other"), Some(Reason::Key));
        assert_eq!(refused(&u, "get ro:1"), None);
        assert_eq!(refused(&u, "set ro:1 v"), Some(Reason::Key));
        assert_eq!(refused(&u, "set wo:1 v"), None);
        assert_eq!(refused(&u, "get wo:1"), Some(Reason::Key));
        assert_eq!(refused(&u, "mset cache:1 v other v"), Some(Reason::Key));
        assert_eq!(refused(&u, "lmpop 2 cache:1 other left"), Some(Reason::Key));
        assert_eq!(refused(&u, "sunionstore cache:d ro:1 cache:2"), None);
        assert_eq!(check(&u, "mget cache:1 x").unwrap_err().object, "x");
        assert_eq!(u.perms.describe_keys(), "~cache:* %R~ro:* %W~wo:*");
    }

    #[test]
    fn channels_match_patterns_and_patterns_match_literally() {
        let u = user("+@all ~* &news:*");
        assert_eq!(refused(&u, "publish news:1 m"), None);
        assert_eq!(refused(&u, "publish other m"), Some(Reason::Channel));
        assert_eq!(refused(&u, "subscribe news:1 other"), Some(Reason::Channel));
        assert_eq!(refused(&u, "psubscribe news:*"), None);
        assert_eq!(refused(&u, "psubscribe news:1*"), Some(Reason::Channel));
        assert_eq!(refused(&u, "unsubscribe other"), None);
    }

    #[test]
    fn a_new_user_may_only_authenticate() {
        let u = AclUser::new("bob");
        assert_eq!(refused(&u, "get k"), Some(Reason::Command));
        assert_eq!(refused(&u, "auth bob pw"), None);
        assert_eq!(u.describe(), "user bob off resetchannels -@all");
        assert!(!u.password_matches(b""));
    }

    #[test]
    fn acl_list_describes_users_as_redis() {
        let u = user("on >pw ~cache:* +get");
        assert_eq!(u.describe(), format!("user alice on #{} ~cache:* resetchannels -@all +get", hash("pw")));
        let all = AclUser::unrestricted("default", None);
        assert_eq!(all.describe(), "user default on nopass ~* &* +@all");
        assert!(all.perms.allows_everything());
        let mut twice = user("+get -get +get");
        assert_eq!(twice.perms.describe_commands(), "-@all +get");
        twice.apply("+acl|whoami").unwrap();
        twice.apply("-acl").unwrap();
        assert_eq!(twice.perms.describe_commands(), "-@all +get -acl");
    }

    #[test]
    fn passwords_are_kept_hashed() {
        let mut u = user("on >a >b");
        assert!(u.password_matches(b"a") && u.password_matches(b"b") && !u.password_matches(b"c"));
        u.apply("<a").unwrap();
        assert!(!u.password_matches(b"a"));
        assert_eq!(u.apply("<a"), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply("#nothex"), Err(RuleError::BadHash));
        u.apply(&format!("#{}", hash("c"))).unwrap();
        assert!(u.password_matches(b"c"));
        u.apply("nopass").unwrap();
        assert!(u.password_matches(b"anything") && u.passwords.is_empty());
        u.apply("resetpass").unwrap();
        assert!(!u.password_matches(b"anything"));
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut u = AclUser::new("x");
        assert_eq!(u.apply("bogus"), Err(RuleError::Syntax));
        assert_eq!(u.apply("+nope"), Err(RuleError::Unknown));
        assert_eq!(u.apply("+@nope"), Err(RuleError::Unknown));
        assert_eq!(u.apply("+acl|nope"), Err(RuleError::Unknown));
        assert_eq!(u.apply("+select|0"), Err(RuleError::FirstArg));
        assert_eq!(u.apply("%X~k"), Err(RuleError::Syntax));
        assert_eq!(u.apply("(~k +get)"), Err(RuleError::Selectors));
        u.apply("allkeys").unwrap();
        assert_eq!(u.apply("~k"), Err(RuleError::KeyAfterAllKeys));
        u.apply("&*").unwrap();
        assert_eq!(u.apply("&c"), Err(RuleError::ChannelAfterAllChannels));
        u.apply("reset").unwrap();
        assert_eq!(u.describe(), "user x off resetchannels -@all");
    }
}
