//! TradeStation v3 payloads, with TradeStation's field names.
