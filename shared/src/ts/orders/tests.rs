//! Every field and every value list of the order checks.

use super::*;
use serde_json::json;

fn market() -> Value {
    json!({
        "AccountID": "SIM123456M",
        "Symbol": "MSFT",
        "Quantity": "10",
        "OrderType": "Market",
        "TradeAction": "BUY",
        "TimeInForce": {"Duration": "DAY"},
        "Route": "Intelligent",
        "OrderConfirmID": "abc-123_X"
    })
}

fn with(mut order: Value, field: &str, value: Value) -> Value {
    order[field] = value;
    order
}

fn without(mut order: Value, field: &str) -> Value {
    order.as_object_mut().unwrap().remove(field);
    order
}

fn bad_field(value: Value) -> String {
    OrderRequest::try_from(value).expect_err("refused").field
}

#[test]
fn a_complete_market_order_parses_with_its_values() {
    let order = OrderRequest::try_from(market()).unwrap();
    assert_eq!(order.account_id, "SIM123456M");
    assert_eq!(order.symbol, "MSFT");
    assert_eq!(order.quantity, "10");
    assert_eq!(order.order_type, OrderType::Market);
    assert_eq!(order.trade_action, TradeAction::Buy);
    assert_eq!(order.time_in_force.duration, Duration::Day);
    assert_eq!(order.order_confirm_id.as_deref(), Some("abc-123_X"));
    assert!(order.extra.is_empty());
}

#[test]
fn unknown_fields_are_kept_as_sent() {
    let sent = with(
        market(),
        "AdvancedOptions",
        json!({"TrailingStop": {"Percent": "5"}}),
    );
    let sent = with(sent, "Legs", json!([{"Symbol": "MSFT", "Quantity": "1"}]));
    let order = OrderRequest::try_from(sent.clone()).unwrap();
    assert_eq!(order.extra["AdvancedOptions"], sent["AdvancedOptions"]);
    assert_eq!(order.extra["Legs"], sent["Legs"]);
    assert_eq!(serde_json::to_value(&order).unwrap(), sent);
}

#[test]
fn each_required_field_is_named_when_missing() {
    for field in [
        "AccountID",
        "Symbol",
        "Quantity",
        "OrderType",
        "TradeAction",
        "TimeInForce",
    ] {
        assert_eq!(bad_field(without(market(), field)), field);
    }
    let no_duration = with(market(), "TimeInForce", json!({}));
    assert_eq!(bad_field(no_duration), "TimeInForce.Duration");
}

#[test]
fn account_and_symbol_must_be_non_empty_strings() {
    for field in ["AccountID", "Symbol"] {
        for value in [
            json!(""),
            json!("  "),
            json!(12),
            json!(null),
            json!("a\nb"),
            json!("x".repeat(65)),
        ] {
            assert_eq!(
                bad_field(with(market(), field, value.clone())),
                field,
                "{value}"
            );
        }
    }
    let option = with(market(), "Symbol", json!("MSFT 211217P332.5"));
    assert!(OrderRequest::try_from(option).is_ok());
}

#[test]
fn quantity_is_a_string_holding_a_positive_number() {
    for good in ["1", "10", "0.5", "100.25", "007"] {
        let order = OrderRequest::try_from(with(market(), "Quantity", json!(good)));
        assert!(order.is_ok(), "{good}");
    }
    for bad in [
        json!(10),
        json!("0"),
        json!("0.0"),
        json!("-1"),
        json!("+1"),
        json!("1e3"),
        json!("1.2.3"),
        json!(".5"),
        json!("5."),
        json!(""),
        json!("ten"),
        json!(null),
    ] {
        assert_eq!(
            bad_field(with(market(), "Quantity", bad.clone())),
            "Quantity",
            "{bad}"
        );
    }
}

#[test]
fn order_type_is_one_of_four_spelled_exactly() {
    for t in OrderType::ALL {
        let mut order = with(market(), "OrderType", json!(t.as_str()));
        order["LimitPrice"] = json!("1.5");
        order["StopPrice"] = json!("1.4");
        assert_eq!(OrderRequest::try_from(order).unwrap().order_type, t);
    }
    for bad in ["market", "LIMIT", "Stop", "TrailingStop", ""] {
        assert_eq!(
            bad_field(with(market(), "OrderType", json!(bad))),
            "OrderType",
            "{bad}"
        );
    }
}

#[test]
fn trade_action_takes_every_value_in_any_case() {
    let values = [
        "BUY",
        "SELL",
        "BUYTOCOVER",
        "SELLSHORT",
        "BUYTOOPEN",
        "BUYTOCLOSE",
        "SELLTOOPEN",
        "SELLTOCLOSE",
    ];
    assert_eq!(TradeAction::ALL.map(TradeAction::as_str), values);
    for value in values {
        for spelled in [value.to_owned(), value.to_lowercase(), capitalised(value)] {
            let order =
                OrderRequest::try_from(with(market(), "TradeAction", json!(spelled))).unwrap();
            assert_eq!(order.trade_action.as_str(), value);
        }
    }
    for bad in [json!("HOLD"), json!("BUY TO COVER"), json!(1), json!("")] {
        assert_eq!(
            bad_field(with(market(), "TradeAction", bad.clone())),
            "TradeAction",
            "{bad}"
        );
    }
}

fn capitalised(s: &str) -> String {
    let lower = s.to_lowercase();
    format!("{}{}", &lower[..1].to_uppercase(), &lower[1..])
}

#[test]
fn duration_takes_every_value_of_tradestation() {
    let values = [
        "DAY", "DYP", "GTC", "GCP", "GTD", "GDP", "OPG", "CLO", "IOC", "FOK", "1", "3", "5",
    ];
    assert_eq!(Duration::ALL.map(Duration::as_str), values);
    for value in values {
        let order = with(
            market(),
            "TimeInForce",
            json!({"Duration": value, "Expiration": "2030-01-01T00:00:00Z"}),
        );
        assert_eq!(
            OrderRequest::try_from(order)
                .unwrap()
                .time_in_force
                .duration
                .as_str(),
            value
        );
    }
    for bad in [
        json!("day"),
        json!("2"),
        json!("GTX"),
        json!(1),
        json!(null),
    ] {
        let order = with(market(), "TimeInForce", json!({"Duration": bad}));
        assert_eq!(bad_field(order), "TimeInForce.Duration", "{bad}");
    }
    assert_eq!(
        bad_field(with(market(), "TimeInForce", json!("DAY"))),
        "TimeInForce"
    );
    let bad_expiry = with(
        market(),
        "TimeInForce",
        json!({"Duration": "GTD", "Expiration": 5}),
    );
    assert_eq!(bad_field(bad_expiry), "TimeInForce.Expiration");
}

#[test]
fn limit_and_stop_prices_are_required_by_their_order_types() {
    let limit = with(market(), "OrderType", json!("Limit"));
    assert_eq!(bad_field(limit.clone()), "LimitPrice");
    assert!(OrderRequest::try_from(with(limit, "LimitPrice", json!("101.5"))).is_ok());

    let stop = with(market(), "OrderType", json!("StopMarket"));
    assert_eq!(bad_field(stop.clone()), "StopPrice");
    assert!(OrderRequest::try_from(with(stop, "StopPrice", json!("99"))).is_ok());

    let stop_limit = with(market(), "OrderType", json!("StopLimit"));
    assert_eq!(
        bad_field(with(stop_limit.clone(), "StopPrice", json!("99"))),
        "LimitPrice"
    );
    assert_eq!(
        bad_field(with(stop_limit.clone(), "LimitPrice", json!("99"))),
        "StopPrice"
    );
    let both = with(
        with(stop_limit, "LimitPrice", json!("99.5")),
        "StopPrice",
        json!("99"),
    );
    assert!(OrderRequest::try_from(both).is_ok());
}

#[test]
fn prices_are_positive_decimal_strings() {
    for field in ["LimitPrice", "StopPrice"] {
        for bad in [
            json!(101.5),
            json!("0"),
            json!("-3"),
            json!("abc"),
            json!(""),
        ] {
            let order = with(
                with(market(), "OrderType", json!("StopLimit")),
                "LimitPrice",
                json!("1"),
            );
            let order = with(with(order, "StopPrice", json!("1")), field, bad.clone());
            assert_eq!(bad_field(order), field, "{bad}");
        }
        // Also checked when the order type does not need it.
        assert_eq!(bad_field(with(market(), field, json!("-1"))), field);
    }
}

#[test]
fn the_confirm_id_is_checked_and_required_for_placing() {
    for good in ["a", "A-b_9", &"x".repeat(64)] {
        assert!(
            OrderRequest::parse_for_placing(with(market(), "OrderConfirmID", json!(good))).is_ok()
        );
    }
    for bad in [
        json!(""),
        json!("x".repeat(65)),
        json!("a b"),
        json!("a/b"),
        json!("é"),
        json!(7),
    ] {
        assert_eq!(
            bad_field(with(market(), "OrderConfirmID", bad.clone())),
            "OrderConfirmID",
            "{bad}"
        );
    }
    let missing = without(market(), "OrderConfirmID");
    assert!(
        OrderRequest::try_from(missing.clone()).is_ok(),
        "a preview needs none"
    );
    assert_eq!(
        OrderRequest::parse_for_placing(missing).unwrap_err().field,
        "OrderConfirmID"
    );
}

#[test]
fn route_must_be_a_string() {
    assert_eq!(bad_field(with(market(), "Route", json!(3))), "Route");
}

#[test]
fn only_a_json_object_is_an_order() {
    for body in [json!([]), json!("x"), json!(null), json!(1)] {
        assert_eq!(bad_field(body), "body");
    }
}

#[test]
fn a_replace_needs_something_to_change_and_checks_what_it_gets() {
    let ok = OrderReplaceRequest::try_from(json!({"Quantity": "5", "Extra": 1})).unwrap();
    assert_eq!(ok.quantity.as_deref(), Some("5"));
    assert_eq!(ok.extra["Extra"], json!(1));
    assert!(OrderReplaceRequest::try_from(json!({"OrderType": "Market"})).is_ok());
    assert!(OrderReplaceRequest::try_from(json!({"AdvancedOptions": {}})).is_ok());
    let field = |v: Value| OrderReplaceRequest::try_from(v).unwrap_err().field;
    assert_eq!(field(json!({})), "Quantity");
    assert_eq!(field(json!({"Quantity": 5})), "Quantity");
    assert_eq!(field(json!({"LimitPrice": "0"})), "LimitPrice");
    assert_eq!(field(json!({"StopPrice": "x"})), "StopPrice");
    assert_eq!(field(json!({"OrderType": "Trailing"})), "OrderType");
    assert_eq!(field(json!([1])), "body");
}

fn group(kind: &str, orders: Vec<Value>) -> Value {
    json!({"Type": kind, "Orders": orders})
}

#[test]
fn a_group_names_the_bad_field_with_its_place() {
    for kind in ["OCO", "BRK", "NORMAL", "oco"] {
        let g = OrderGroupRequest::parse_for_placing(group(kind, vec![market()])).unwrap();
        assert_eq!(g.r#type.as_str(), kind.to_uppercase());
    }
    let field = |v: Value| OrderGroupRequest::try_from(v).unwrap_err().field;
    assert_eq!(field(group("SPLIT", vec![market()])), "Type");
    assert_eq!(field(json!({"Orders": [market()]})), "Type");
    assert_eq!(field(json!({"Type": "OCO"})), "Orders");
    assert_eq!(field(group("OCO", vec![])), "Orders");
    assert_eq!(field(group("OCO", vec![market(); 101])), "Orders");
    let second = with(market(), "Quantity", json!("0"));
    assert_eq!(
        field(group("OCO", vec![market(), second])),
        "Orders[1].Quantity"
    );
    let tif = with(market(), "TimeInForce", json!({"Duration": "X"}));
    assert_eq!(
        field(group("BRK", vec![tif])),
        "Orders[0].TimeInForce.Duration"
    );
}

#[test]
fn a_group_to_place_needs_distinct_confirm_ids_and_keys_on_all_of_them() {
    let a = with(market(), "OrderConfirmID", json!("b-2"));
    let b = with(market(), "OrderConfirmID", json!("a-1"));
    let g = OrderGroupRequest::parse_for_placing(group("OCO", vec![a.clone(), b])).unwrap();
    assert_eq!(g.confirm_ids(), ["a-1", "b-2"]);
    let field = |v: Value| OrderGroupRequest::parse_for_placing(v).unwrap_err().field;
    assert_eq!(
        field(group(
            "OCO",
            vec![a.clone(), without(market(), "OrderConfirmID")]
        )),
        "Orders[1].OrderConfirmID"
    );
    assert_eq!(
        field(group("OCO", vec![a.clone(), a])),
        "Orders[1].OrderConfirmID"
    );
}

#[test]
fn answers_parse_with_tradestations_field_names() {
    let confirm: OrderConfirmResponse = serde_json::from_value(json!({"Confirmations": [{
        "OrderAssetCategory": "EQUITY", "AccountID": "SIM1", "Route": "Intelligent",
        "TimeInForce": {"Duration": "DAY"}, "OrderConfirmID": "c1", "EstimatedPrice": "212.87",
        "EstimatedCost": "2128.7", "DebitCreditEstimatedCost": "-2128.7", "EstimatedCommission": "0",
        "SummaryMessage": "Buy 10 MSFT @ Market", "Novel": true}]})).unwrap();
    let c = &confirm.confirmations[0];
    assert_eq!(c.summary_message.as_deref(), Some("Buy 10 MSFT @ Market"));
    assert_eq!(c.extra["Novel"], json!(true));

    let placed: PlaceOrderResponse = serde_json::from_value(json!({
        "Orders": [{"OrderID": "286234131", "Message": "Sent order: Buy 10 MSFT @ Market"},
                   {"OrderID": "286234132", "Error": "FAILED", "Message": "Order failed."}],
        "Errors": [{"OrderID": "0", "Error": "FAILED", "Message": "Order failed. Reason: x"}]}))
    .unwrap();
    assert_eq!(placed.order_ids().collect::<Vec<_>>(), ["286234131"]);
    assert_eq!(placed.errors[0].error.as_deref(), Some("FAILED"));

    let cancel: CancelOrderResponse =
        serde_json::from_value(json!({"OrderID": "1", "Message": "Cancel request sent"})).unwrap();
    assert_eq!(cancel.order_id.as_deref(), Some("1"));
}

#[test]
fn order_stream_lines_parse_into_their_kinds() {
    let line = |s: &str| serde_json::from_str::<OrderStreamMessage>(s).unwrap();
    assert!(matches!(
        line(r#"{"Heartbeat":3,"Timestamp":"2021-03-02T18:01:23Z"}"#),
        OrderStreamMessage::Heartbeat(_)
    ));
    assert!(
        matches!(line(r#"{"StreamStatus":"EndSnapshot"}"#), OrderStreamMessage::Status(s) if s.stream_status == "EndSnapshot")
    );
    assert!(matches!(
        line(r#"{"Error":"Forbidden","Message":"Invalid Account ID.","AccountID":"X"}"#),
        OrderStreamMessage::Error(_)
    ));
    let OrderStreamMessage::Order(order) = line(
        r#"{"AccountID":"SIM1","OrderID":"9","Status":"FLL","GroupName":"G","AdvancedOptions":"TRL=5%;",
            "ConditionalOrders":[{"Relationship":"OCO","OrderID":"10"}],"Novel":"kept"}"#,
    ) else {
        panic!("an order");
    };
    assert_eq!(order.order.status.as_deref(), Some("FLL"));
    assert_eq!(order.conditional_orders[0].order_id.as_deref(), Some("10"));
    assert_eq!(order.advanced_options.as_deref(), Some("TRL=5%;"));
    assert_eq!(
        order.extra.len(),
        1,
        "only the unknown field: {:?}",
        order.extra
    );
    assert_eq!(order.extra["Novel"], json!("kept"));
}

#[test]
fn position_stream_lines_parse_into_their_kinds() {
    let line = |s: &str| serde_json::from_str::<PositionStreamMessage>(s).unwrap();
    assert!(
        matches!(line(r#"{"PositionID":"7","Deleted":true}"#), PositionStreamMessage::Deleted(d) if d.position_id == "7" && d.deleted)
    );
    assert!(
        matches!(line(r#"{"PositionID":"7","Quantity":"5"}"#), PositionStreamMessage::Position(p) if p.quantity.as_deref() == Some("5"))
    );
    assert!(matches!(
        line(r#"{"StreamStatus":"EndSnapshot"}"#),
        PositionStreamMessage::Status(_)
    ));
    assert!(matches!(
        line(r#"{"Heartbeat":1}"#),
        PositionStreamMessage::Heartbeat(_)
    ));
    assert!(matches!(
        line(r#"{"Error":"GoAway","Message":"bye"}"#),
        PositionStreamMessage::Error(_)
    ));
}

#[test]
fn order_ids_in_paths_are_alphanumeric_up_to_32() {
    for good in ["1", "286234131", &"A".repeat(32)] {
        assert!(is_order_id(good), "{good}");
    }
    for bad in ["", "1-2", "a b", "%41", &"1".repeat(33), "é"] {
        assert!(!is_order_id(bad), "{bad}");
    }
}
