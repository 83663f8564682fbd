//! Dates and times for people, in the browser's locale.

use js_sys::{Date, Object, Reflect};
use wasm_bindgen::JsValue;

fn options(pairs: &[(&str, &str)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    o
}

/// "14:05" (or "2:05 PM", by locale).
pub fn clock(ts: f64) -> String {
    Date::new(&JsValue::from_f64(ts))
        .to_locale_time_string_with_options(
            "default",
            &options(&[("hour", "2-digit"), ("minute", "2-digit")]),
        )
        .into()
}

/// "Today", "Yesterday" or "Sat, 21 Nov 2026".
pub fn day(ts: f64) -> String {
    let date = Date::new(&JsValue::from_f64(ts));
    let today = Date::new_0();
    let same_day = |a: &Date, b: &Date| {
        a.get_full_year() == b.get_full_year()
            && a.get_month() == b.get_month()
            && a.get_date() == b.get_date()
    };
    if same_day(&date, &today) {
        return "Today".into();
    }
    let yesterday = Date::new(&JsValue::from_f64(Date::now() - 86_400_000.0));
    if same_day(&date, &yesterday) {
        return "Yesterday".into();
    }
    date.to_locale_date_string(
        "default",
        &options(&[
            ("weekday", "short"),
            ("day", "numeric"),
            ("month", "short"),
            ("year", "numeric"),
        ]),
    )
    .into()
}

/// Day key for grouping messages ("2026-10-21").
pub fn day_key(ts: f64) -> (u32, u32, u32) {
    let d = Date::new(&JsValue::from_f64(ts));
    (d.get_full_year(), d.get_month(), d.get_date())
}

/// Full date and time, for tooltips and `<time datetime>`.
pub fn iso(ts: f64) -> String {
    Date::new(&JsValue::from_f64(ts)).to_iso_string().into()
}

/// "Today 14:05", "Yesterday 09:12" or "Sat, 21 Nov 2026 14:05".
pub fn when(ts: f64) -> String {
    format!("{} {}", day(ts), clock(ts))
}
