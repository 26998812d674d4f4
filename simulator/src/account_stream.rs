//! The brokerage streams: `/v3/brokerage/stream/accounts/{ids}/orders` and
//! `…/positions?changes=true`, in `application/vnd.tradestation.streams.v3+json`.
//!
//! Each opens with a snapshot of the selected accounts (an
//! `{"Error":"Forbidden","Message":"Invalid Account ID.","AccountID"}` line
//! for each account the user does not hold), then
//! `{"StreamStatus":"EndSnapshot"}`, then updates as the book changes:
//! whole order objects; for positions, whole new positions, then with
//! `changes=true` only the changed fields plus `PositionID`, and a closed
//! position as `{"PositionID","Deleted":true}`. Timing, heartbeats and the
//! split chunks come from [`super::stream`]; the book is read at the
//! trading clock ([`Simulator::now_ms`]), so pinned prices and a manual
//! clock show up here as in REST.

use std::collections::BTreeMap;

use axum::extract::{Extension, RawQuery, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::brokerage::{orders_of, positions_of, select};
use super::data::{TsPath, User};
use super::stream::{Source, line, stream_response_as};
use super::{Params, Simulator, bad_request};

/// TradeStation's media type for order and position streams.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.tradestation.streams.v3+json";

fn end_snapshot() -> String {
    json!({"StreamStatus": "EndSnapshot"}).to_string()
}

fn invalid_accounts(errors: &[shared::ts::accounts::AccountError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| json!({"Error": "Forbidden", "Message": "Invalid Account ID.", "AccountID": e.account_id}).to_string())
        .collect()
}

/// Orders: a line whenever an order's object changes.
struct OrderSource {
    sim: Simulator,
    user: String,
    accounts: Vec<String>,
    errors: Vec<String>,
    sent: BTreeMap<String, String>,
}

impl OrderSource {
    fn changed(&mut self) -> Vec<String> {
        let now = self.sim.now_ms();
        let orders = self
            .sim
            .with_book(&self.user, |book| orders_of(book, &self.accounts, now));
        let mut lines = Vec::new();
        // Oldest first, so a stream reads in the order things happened.
        for order in orders.into_iter().rev() {
            let id = order["OrderID"].as_str().unwrap_or_default().to_owned();
            let Some(text) = line(&order) else { continue };
            if self.sent.get(&id) != Some(&text) {
                self.sent.insert(id, text.clone());
                lines.push(text);
            }
        }
        lines
    }
}

impl Source for OrderSource {
    fn snapshot(&mut self, _t_ms: i64) -> Vec<String> {
        let mut lines = std::mem::take(&mut self.errors);
        lines.extend(self.changed());
        lines.push(end_snapshot());
        lines
    }

    fn update(&mut self, _t_ms: i64) -> Vec<String> {
        self.changed()
    }
}

/// Positions: new ones whole, then changes (or whole objects without
/// `changes=true`), and deletions.
struct PositionSource {
    sim: Simulator,
    user: String,
    accounts: Vec<String>,
    errors: Vec<String>,
    changes: bool,
    sent: BTreeMap<String, Map<String, Value>>,
}

impl PositionSource {
    fn changed(&mut self) -> Vec<String> {
        let now = self.sim.now_ms();
        let positions = self.sim.with_book(&self.user, |book| {
            positions_of(&self.sim, book, &self.accounts, now)
        });
        let mut current = BTreeMap::new();
        for position in positions {
            if let Ok(Value::Object(map)) = serde_json::to_value(position) {
                let id = map
                    .get("PositionID")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                current.insert(id, map);
            }
        }
        let mut lines = Vec::new();
        for (id, map) in &current {
            let message = match self.sent.get(id) {
                None => Some(map.clone()),
                Some(sent) if sent == map => None,
                Some(_) if !self.changes => Some(map.clone()),
                Some(sent) => {
                    let mut delta: Map<String, Value> = map
                        .iter()
                        .filter(|(k, v)| sent.get(*k) != Some(*v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    delta.insert("PositionID".into(), Value::String(id.clone()));
                    Some(delta)
                }
            };
            if let Some(text) = message.and_then(|m| line(&m)) {
                lines.push(text);
            }
        }
        for id in self.sent.keys().filter(|id| !current.contains_key(*id)) {
            lines.push(json!({"PositionID": id, "Deleted": true}).to_string());
        }
        self.sent = current;
        lines
    }
}

impl Source for PositionSource {
    fn snapshot(&mut self, _t_ms: i64) -> Vec<String> {
        let mut lines = std::mem::take(&mut self.errors);
        lines.extend(self.changed());
        lines.push(end_snapshot());
        lines
    }

    fn update(&mut self, _t_ms: i64) -> Vec<String> {
        self.changed()
    }
}

/// `GET /v3/brokerage/stream/accounts/{ids}/orders`.
pub(super) async fn orders(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(ids): TsPath,
) -> Response {
    let (found, errors) = match select(&user.0, &ids) {
        Ok(selection) => selection,
        Err(message) => return bad_request(message),
    };
    let source = OrderSource {
        sim: sim.clone(),
        user: user.0,
        accounts: found.into_iter().map(|a| a.id).collect(),
        errors: invalid_accounts(&errors),
        sent: BTreeMap::new(),
    };
    stream_response_as(&sim, source, CONTENT_TYPE)
}

/// `GET /v3/brokerage/stream/accounts/{ids}/positions?changes=true`.
pub(super) async fn positions(
    State(sim): State<Simulator>,
    Extension(user): Extension<User>,
    TsPath(ids): TsPath,
    RawQuery(query): RawQuery,
) -> Response {
    let (found, errors) = match select(&user.0, &ids) {
        Ok(selection) => selection,
        Err(message) => return bad_request(message),
    };
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let changes = match params
        .get_ci("changes")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return bad_request("changes must be true or false."),
    };
    let source = PositionSource {
        sim: sim.clone(),
        user: user.0,
        accounts: found.into_iter().map(|a| a.id).collect(),
        errors: invalid_accounts(&errors),
        changes,
        sent: BTreeMap::new(),
    };
    stream_response_as(&sim, source, CONTENT_TYPE)
}
