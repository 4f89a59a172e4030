//! Sequences: hidden row numbers of tables without a primary key, and
//! SERIAL/identity values, drawn from `counter` actors.

use super::*;

impl<G: ActorGateway> Engine<G> {
    /// `count` new row numbers for a table without a primary key.
    pub(super) async fn next_rowids(
        &self,
        table: &Table,
        count: usize,
    ) -> Result<std::ops::RangeInclusive<i64>> {
        let last = self.draw(table.rowid_sequence(), count).await?;
        Ok(last - count as i64 + 1..=last)
    }

    pub(super) async fn next_serial(&self, table: &Table, column: &Column) -> Result<Json> {
        let value = self.draw(table.sequence_key(&column.name), 1).await?;
        column.coerce(&Literal::Number(value.to_string())).map_err(Into::into)
    }

    /// Advances sequence `key` (a `counter` actor) by `count`; returns its
    /// new value. As in PostgreSQL, a value drawn is not made durable on
    /// its own: a row that uses it commits in a later write, and storage is
    /// durable in write order, so that row's commit makes the draw durable
    /// too. A crash before then may hand out the value again, to a row
    /// that never committed. (Waiting for the draw's own fsync put one
    /// inside every INSERT, under the row locks its transaction held.)
    pub(super) async fn draw(&self, key: String, count: usize) -> Result<i64> {
        let id = ActorId::new("counter", Bytes::from(key));
        let args = json_bytes(&serde_json::json!({ "by": count }))?;
        let (reply, _durable) = self.gateway.invoke_visible(id, Invocation::new("increment", args)).await?;
        serde_json::from_slice(&reply.value).map_err(|e| error(Code::Internal, e.to_string()))
    }
}
