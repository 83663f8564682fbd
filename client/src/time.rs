//! Dates and times for people, in the browser's locale.

use js_sys::{Array, Date, Function, Intl, Object, Reflect};
use wasm_bindgen::JsValue;

fn options(pairs: &[(&str, &str)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    o
}

/// "14:05": the parts of a time shown beside a message or a file.
const CLOCK_OPTIONS: &[(&str, &str)] = &[("hour", "2-digit"), ("minute", "2-digit")];
/// "Sat, 21 Nov 2026": the parts of a date older than yesterday.
const DATE_OPTIONS: &[(&str, &str)] = &[
    ("weekday", "short"),
    ("day", "numeric"),
    ("month", "short"),
    ("year", "numeric"),
];

/// A cached `Intl.DateTimeFormat(default locale, options)`'s `format` function. Making a formatter is the
/// expensive part (every message row, day separator and file card formats a time as it renders; a file card
/// renders four times a second while its file moves), so each kind is made once.
fn formatter(pairs: &[(&str, &str)]) -> Function {
    Intl::DateTimeFormat::new(&Array::new(), &options(pairs)).format()
}

thread_local! {
    static CLOCK: Function = formatter(CLOCK_OPTIONS);
    static DATE: Function = formatter(DATE_OPTIONS);
}

fn format_with(format: &Function, date: &Date) -> String {
    format
        .call1(&JsValue::UNDEFINED, date)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// "14:05" (or "2:05 PM", by locale).
pub fn clock(ts: f64) -> String {
    let date = Date::new(&JsValue::from_f64(ts));
    CLOCK.with(|f| format_with(f, &date))
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
    DATE.with(|f| format_with(f, &date))
}

/// Day key for grouping messages ("2026-10-21").
pub fn day_key(ts: f64) -> (u32, u32, u32) {
    let d = Date::new(&JsValue::from_f64(ts));
    (d.get_full_year(), d.get_month(), d.get_date())
}

/// The local days of times given mostly in order (a conversation's), asking the browser only when a time falls
/// outside the day found last: a conversation of thousands of messages over a few days makes a few `Date`s per
/// render instead of one per message.
#[derive(Default)]
pub struct Days {
    /// The last day found: its first millisecond, the first of the next day, and its key.
    last: Option<(f64, f64, (u32, u32, u32))>,
}

impl Days {
    /// The same as [`day_key`].
    pub fn key(&mut self, ts: f64) -> (u32, u32, u32) {
        if let Some((start, end, key)) = self.last {
            if ts >= start && ts < end {
                return key;
            }
        }
        let key = day_key(ts);
        // Local midnights (a day is not always 24 hours long: the clock changes twice a year).
        let start = Date::new_with_year_month_day(key.0, key.1 as i32, key.2 as i32).get_time();
        let end = Date::new_with_year_month_day(key.0, key.1 as i32, key.2 as i32 + 1).get_time();
        if start <= ts && ts < end {
            self.last = Some((start, end, key));
        }
        key
    }
}

/// Full date and time, for tooltips and `<time datetime>`.
pub fn iso(ts: f64) -> String {
    Date::new(&JsValue::from_f64(ts)).to_iso_string().into()
}

/// "Today 14:05", "Yesterday 09:12" or "Sat, 21 Nov 2026 14:05".
pub fn when(ts: f64) -> String {
    format!("{} {}", day(ts), clock(ts))
}

#[cfg(test)]
mod tests {
    use js_sys::Date;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::{clock, day, day_key, options, when, Days, CLOCK_OPTIONS, DATE_OPTIONS};

    #[wasm_bindgen_test]
    fn days_match_day_key_in_and_out_of_order() {
        let hour = 3_600_000.0;
        let start = 1_763_800_123_456.0;
        let mut times: Vec<f64> = (0..200).map(|i| start + i as f64 * 0.37 * hour).collect();
        // Around midnight, and out of order.
        let midnight = Date::new_with_year_month_day(2026, 10, 22).get_time();
        times.extend([
            midnight - 1.0,
            midnight,
            midnight + 1.0,
            start,
            midnight - 1.0,
        ]);
        let mut days = Days::default();
        for ts in times {
            assert_eq!(days.key(ts), day_key(ts), "at {ts}");
        }
    }

    /// The cached formatters say what the browser's one-off `toLocale…String` calls say.
    #[wasm_bindgen_test]
    fn cached_formatters_match_one_off_formatting() {
        for ts in [0.0, 1_700_000_000_000.0, 1_763_800_123_456.0] {
            let date = Date::new(&JsValue::from_f64(ts));
            let time: String = date
                .to_locale_time_string_with_options("default", &options(CLOCK_OPTIONS))
                .into();
            let long: String = date
                .to_locale_date_string("default", &options(DATE_OPTIONS))
                .into();
            assert!(!time.is_empty() && !long.is_empty());
            assert_eq!(clock(ts), time);
            assert_eq!(day(ts), long);
            assert_eq!(when(ts), format!("{long} {time}"));
        }
        assert_eq!(day(Date::now()), "Today");
        assert_eq!(day(Date::now() - 86_400_000.0), "Yesterday");
    }
}
