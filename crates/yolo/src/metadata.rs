//! The `metadata_props` Ultralytics writes, with its keys, order and Python-repr values
//! (its loader reads them back with `ast.literal_eval`).

use crate::config::{Head, ModelConfig};
use crate::options::ExportOptions;
use std::collections::BTreeMap;

/// The Ultralytics version whose export this crate reproduces.
pub const ULTRALYTICS_VERSION: &str = "8.4.190";

/// Python `repr` of a `str`.
pub fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python `repr` of a `{int: str}` dict.
pub fn py_names(names: &BTreeMap<i64, String>) -> String {
    let items: Vec<String> = names
        .iter()
        .map(|(k, v)| format!("{k}: {}", py_str(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn py_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "None".into())
}

/// `datetime.now().astimezone().isoformat()` for UTC: `2026-11-27T02:24:56.833394+00:00`.
pub fn now_isoformat() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

/// Everything the metadata needs besides the config and the options.
pub struct MetaInputs<'a> {
    pub names: &'a BTreeMap<i64, String>,
    /// The training dataset (`args.data` of a checkpoint), for the description.
    pub data: Option<&'a str>,
    pub max_stride: u32,
}

/// `metadata_props` in Ultralytics' order.
pub fn metadata(cfg: &ModelConfig, opts: &ExportOptions, m: &MetaInputs) -> Vec<(String, String)> {
    let stem = cfg
        .yaml_file
        .strip_suffix(".yaml")
        .or_else(|| cfg.yaml_file.strip_suffix(".yml"))
        .unwrap_or(&cfg.yaml_file);
    let pretty = stem.replace("yolo", "YOLO");
    let trained = match m.data {
        Some(d) if !d.is_empty() => format!("trained on {d}"),
        _ => String::new(),
    };
    let args = format!(
        "{{'data': None, 'batch': {}, 'fraction': 1.0, 'quantize': {}, 'nms': {}, 'dynamic': {}, 'simplify': {}, 'opset': {}}}",
        opts.batch,
        if opts.half { "16" } else { "None" },
        py_opt(opts.nms.map(py_bool)),
        py_bool(opts.dynamic),
        py_bool(opts.simplify),
        py_opt(opts.opset),
    );
    let date = opts.date.clone().unwrap_or_else(now_isoformat);
    let mut props = vec![
        (
            "description".into(),
            format!("Ultralytics {pretty} model {trained}"),
        ),
        ("author".into(), "Ultralytics".into()),
        ("date".into(), date),
        ("version".into(), ULTRALYTICS_VERSION.into()),
        (
            "license".into(),
            "AGPL-3.0 License (https://ultralytics.com/license)".into(),
        ),
        ("docs".into(), "https://docs.ultralytics.com".into()),
        ("stride".into(), m.max_stride.to_string()),
        ("task".into(), cfg.task.as_str().into()),
        ("head".into(), cfg.task.head_name().into()),
        ("batch".into(), opts.batch.to_string()),
        (
            "imgsz".into(),
            format!("[{}, {}]", opts.imgsz.0, opts.imgsz.1),
        ),
        ("names".into(), py_names(m.names)),
        ("args".into(), args),
        ("channels".into(), cfg.channels.to_string()),
        ("end2end".into(), "False".into()),
    ];
    if let Some(Head::Pose { kpt_shape: [k, d] }) = cfg.head() {
        props.push(("kpt_shape".into(), format!("[{k}, {d}]")));
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_reprs() {
        assert_eq!(py_str("person"), "'person'");
        assert_eq!(py_str("it's"), "\"it's\"");
        assert_eq!(py_str("a'b\"c"), "'a\\'b\"c'");
        let names: BTreeMap<i64, String> = [(0, "0".to_string()), (1, "1".to_string())].into();
        assert_eq!(py_names(&names), "{0: '0', 1: '1'}");
    }

    #[test]
    fn isoformat_shape() {
        let d = now_isoformat();
        assert_eq!(d.len(), "2026-11-27T02:24:56.833394+00:00".len());
        assert!(d.ends_with("+00:00"));
    }
}
