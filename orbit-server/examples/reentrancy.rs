//! Reentrancy along a call chain: an account asks an auditor to check a
//! transfer, and the auditor calls the account back for its balance. The
//! account's `transfer` and `balance` are reentrant methods, so the call
//! back runs inside the waiting `transfer` turn instead of deadlocking.
//! The same chain through a method that is not reentrant is refused at
//! once with the cycle it would close.
//!
//! `cargo run -p orbit-server --example reentrancy`

use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node, Reentrant, Shared};
use orbit_shared::{Accepts, ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
}

struct AccountApi;
impl ActorInterface for AccountApi {
    const KIND: &'static str = "account";
}

/// Moves `amount` out if the auditor agrees.
#[derive(Serialize, Deserialize)]
struct Transfer {
    amount: i64,
}
impl Message for Transfer {
    const METHOD: &'static str = "transfer";
    const READ_ONLY: bool = false;
    type Reply = i64;
}
impl Accepts<Transfer> for AccountApi {}

#[derive(Serialize, Deserialize)]
struct Balance;
impl Message for Balance {
    const METHOD: &'static str = "balance";
    const READ_ONLY: bool = true;
    type Reply = i64;
}
impl Accepts<Balance> for AccountApi {}

/// Like `balance`, registered as an ordinary (not reentrant) method.
#[derive(Serialize, Deserialize)]
struct Statement;
impl Message for Statement {
    const METHOD: &'static str = "statement";
    const READ_ONLY: bool = true;
    type Reply = i64;
}
impl Accepts<Statement> for AccountApi {}

impl Actor for Account {
    type Interface = AccountApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add_reentrant::<Transfer>().add_reentrant::<Balance>().add::<Statement>().add::<Deposit>();
    }
}

impl Reentrant<Transfer> for Account {
    async fn handle(state: &Shared<Self>, msg: Transfer, ctx: &Context<'_>) -> Result<i64, Error> {
        // The state is not held across this await: the auditor's call
        // back reads it meanwhile.
        let auditor = ctx.node().actor::<Auditor>("audit");
        let ok = auditor.call(Check { account: ctx.id().key.clone(), amount: msg.amount }).await?;
        if !ok {
            return Err(Error::Actor {
                kind: orbit_shared::ErrorKind::InvalidArgument,
                message: "refused by the auditor".into(),
            });
        }
        Ok(state.with(|s| {
            s.balance -= msg.amount;
            s.balance
        }))
    }
}

impl Reentrant<Balance> for Account {
    async fn handle(state: &Shared<Self>, _: Balance, _: &Context<'_>) -> Result<i64, Error> {
        Ok(state.with(|s| s.balance))
    }
}

impl Handler<Statement> for Account {
    async fn handle(&mut self, _: Statement, _: &Context<'_>) -> Result<i64, Error> {
        Ok(self.balance)
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Auditor {
    /// Ask with `statement` (not reentrant) instead of `balance`.
    strict: bool,
}

struct AuditorApi;
impl ActorInterface for AuditorApi {
    const KIND: &'static str = "auditor";
}

#[derive(Serialize, Deserialize)]
struct Check {
    account: bytes::Bytes,
    amount: i64,
}
impl Message for Check {
    const METHOD: &'static str = "check";
    const READ_ONLY: bool = true;
    type Reply = bool;
}
impl Accepts<Check> for AuditorApi {}

#[derive(Serialize, Deserialize)]
struct Strict;
impl Message for Strict {
    const METHOD: &'static str = "strict";
    const READ_ONLY: bool = false;
    type Reply = ();
}
impl Accepts<Strict> for AuditorApi {}

impl Actor for Auditor {
    type Interface = AuditorApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Check>().add::<Strict>();
    }
}

impl Handler<Check> for Auditor {
    async fn handle(&mut self, msg: Check, ctx: &Context<'_>) -> Result<bool, Error> {
        let account = ctx.node().actor::<Account>(msg.account);
        let balance = match self.strict {
            false => account.call(Balance).await?,
            true => account.call(Statement).await?,
        };
        Ok(balance >= msg.amount)
    }
}

impl Handler<Strict> for Auditor {
    async fn handle(&mut self, _: Strict, _: &Context<'_>) -> Result<(), Error> {
        self.strict = true;
        Ok(())
    }
}

/// Adds `amount` to the balance.
#[derive(Serialize, Deserialize)]
struct Deposit {
    amount: i64,
}
impl Message for Deposit {
    const METHOD: &'static str = "deposit";
    const READ_ONLY: bool = false;
    type Reply = i64;
}
impl Accepts<Deposit> for AccountApi {}

impl Handler<Deposit> for Account {
    async fn handle(&mut self, msg: Deposit, _: &Context<'_>) -> Result<i64, Error> {
        self.balance += msg.amount;
        Ok(self.balance)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder(Config::ephemeral()).register::<Account>().register::<Auditor>().build().await?;
    let account = node.actor::<Account>("alice");
    account.call(Deposit { amount: 100 }).await?;
    // account -> auditor -> account: the call back enters the turn.
    let left = account.call(Transfer { amount: 30 }).await?;
    println!("transfer of 30 checked by the auditor: balance {left}");
    let refused = account.call(Transfer { amount: 500 }).await;
    println!("transfer of 500: {}", refused.map_or_else(|e| e.to_string(), |b| b.to_string()));
    // Through a method that is not reentrant the same chain is a cycle.
    node.actor::<Auditor>("audit").call(Strict).await?;
    let cycle = account.call(Transfer { amount: 10 }).await;
    println!("with a strict auditor: {}", cycle.map_or_else(|e| e.to_string(), |b| b.to_string()));
    node.shutdown().await?;
    Ok(())
}
