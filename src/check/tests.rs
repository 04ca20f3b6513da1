use proptest::prelude::*;

use super::*;

fn ok(s: &str) -> Check {
    parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn err(s: &str) -> CheckError {
    match parse(s) {
        Ok(c) => panic!("{s:?} parsed as {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn the_issues_examples_parse() {
    let c = ok("express/get/p99 < 10ms");
    assert_eq!(c.scope, None);
    assert_eq!(
        c.subject,
        Subject::Op {
            target: Name::Is("express".into()),
            op: OpSel::Is(OpKind::Get),
            stat: OpStat::Time(Timing::Latency, Pct::P99),
        }
    );
    assert_eq!(c.cmp, Cmp::Lt);
    assert_eq!(c.limit.base(), 10_000.0);

    let c = ok("standard/*/error_rate < 0.1%");
    assert!(matches!(
        c.subject,
        Subject::Op {
            target: Name::Is(_),
            op: OpSel::Any,
            stat: OpStat::ErrorRate
        }
    ));
    assert!((c.limit.base() - 0.001).abs() < 1e-15);

    let c = ok("*/put/ops_per_sec > 1000");
    assert_eq!(c.limit.base(), 1000.0);
    assert_eq!(c.cmp, Cmp::Gt);

    let c = ok("express/get/ttfb_p50 < 5ms");
    assert!(matches!(
        c.subject,
        Subject::Op {
            stat: OpStat::Time(Timing::Ttfb, Pct::P50),
            ..
        }
    ));

    let c = ok("ratio/get/p50 < 0.5");
    assert_eq!(
        c.subject,
        Subject::Ratio {
            op: OpSel::Is(OpKind::Get),
            stat: OpStat::Time(Timing::Latency, Pct::P50)
        }
    );

    let c = ok("train/au >= 0.9");
    assert_eq!(
        c.subject,
        Subject::Dataloader {
            phase: Name::Is("train".into()),
            target: None,
            stat: DataloaderStat::Au
        }
    );
    assert_eq!(c.cmp, Cmp::Ge);

    let c = ok("shuffled-reads:express/ranged_get/p99 < 80ms");
    assert_eq!(c.scope, Some(Name::Is("shuffled-reads".into())));
    assert_eq!(c.limit.base(), 80_000.0);
}

#[test]
fn spelling_is_normalised_when_printed() {
    for (written, printed) in [
        ("express/get/p99<10ms", "express/get/p99 < 10ms"),
        ("  express/get/p99   <=  10 ms  ", "express/get/p99 <= 10ms"),
        ("express/get/p99 < 250µs", "express/get/p99 < 250us"),
        ("express/ranged-get/p99 < 1s", "express/ranged_get/p99 < 1s"),
        ("ratio/get/p50 < 0.50x", "ratio/get/p50 < 0.5"),
        ("*/put/ops_per_sec > 1000/s", "*/put/ops_per_sec > 1000"),
        ("*/get/mib_per_sec >= 500", "*/get/mib_per_sec >= 500MiB/s"),
        ("*:*/*/errors == 0", "*:*/*/errors == 0"),
        (
            "train/express/stall_p99 < 20ms",
            "train/express/stall_p99 < 20ms",
        ),
        ("x/get/error_rate < 000.100%", "x/get/error_rate < 0.1%"),
    ] {
        assert_eq!(ok(written).to_string(), printed, "{written:?}");
    }
}

#[test]
fn errors_point_at_the_column_and_say_what_was_expected() {
    for (input, column, says) in [
        (
            "",
            1,
            "expected a check like `express/get/p99 < 10ms`, got nothing",
        ),
        ("   ", 4, "got nothing"),
        ("express/get/p99", 16, "expected a comparison"),
        (
            "express/get/p99 10ms",
            17,
            "expected a comparison (<, <=, >, >= or ==), got `1`",
        ),
        ("express/get/p99 = 10ms", 17, "expected `==`"),
        ("express/get/p99 != 10ms", 17, "`!=` is not a comparison"),
        (
            "express/get/p99 < 10",
            21,
            "`p99` is a duration: give the limit a unit",
        ),
        (
            "express/get/p99 < ms",
            19,
            "expected a limit with its unit, like 10ms, got `m`",
        ),
        ("express/get/p99 < -1ms", 19, "never negative"),
        (
            "express/get/p99 < 10ms and more",
            24,
            "unexpected `a` after the limit",
        ),
        (
            "express/get/p99 < 10.ms",
            22,
            "digits after the decimal point",
        ),
        ("express/get/p98 < 10ms", 13, "unknown statistic `p98`"),
        ("express/gett/p99 < 10ms", 9, "unknown op `gett`"),
        (
            "express/get/error_rate < 10ms",
            28,
            "unit `ms` does not fit `error_rate`",
        ),
        ("express/get/error_rate < 150%", 26, "can never matter"),
        ("express/get/ops_per_sec > 5%", 28, "unit `%` does not fit"),
        ("express//p99 < 1ms", 9, "expected a name before `/`"),
        (
            "express/get/ < 1ms",
            13,
            "expected a name after the separator",
        ),
        (
            "exp ress/get/p99 < 1ms",
            1,
            "expected TARGET/OP/STAT like `express/get/p99 < 10ms`, got `exp`",
        ),
        ("ex$press/get/p99 < 1ms", 3, "unexpected `$` in a name"),
        ("a:b:c/get/p99 < 1ms", 4, "unexpected `:`"),
        (
            ":express/get/p99 < 1ms",
            1,
            "expected a phase name before `:`",
        ),
        ("a/b/get/p99 < 1ms", 9, "too many parts"),
        ("p99 < 1ms", 1, "`p99` needs what it is of"),
        ("express/p99 < 1ms", 1, "`p99` is an op statistic"),
        (
            "train:train/au >= 0.9",
            1,
            "names its phase first, without a scope",
        ),
        (
            "ratio/get/error_rate < 0.5",
            11,
            "`ratio` compares latency or throughput",
        ),
        ("ratio/au > 0.5", 1, "`ratio` compares op statistics"),
        ("ex*/get/p99 < 1ms", 1, "`*` matches a whole target name"),
        (
            "express/get/p99 < 99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999ms",
            19,
            "too large",
        ),
    ] {
        let e = err(input);
        assert_eq!(e.column, column, "{input:?}: {e}");
        assert!(e.message.contains(says), "{input:?}: {e}");
        // One sentence: no line breaks, no trailing period chains.
        assert!(!e.message.contains('\n'), "{input:?}: {e}");
    }
}

fn names() -> Names {
    Names {
        what: "the scenario",
        targets: vec![
            TargetName {
                name: "standard".into(),
                directory: false,
            },
            TargetName {
                name: "express".into(),
                directory: true,
            },
        ],
        phases: vec![
            PhaseName {
                name: "mixed".into(),
                loader: false,
                ops: Some(vec![OpKind::Get, OpKind::Put]),
            },
            PhaseName {
                name: "train".into(),
                loader: true,
                ops: Some(vec![OpKind::RangedGet]),
            },
        ],
        setup: vec!["prepare".into(), "cleanup".into()],
    }
}

fn invalid(s: &str, n: &Names) -> CheckError {
    let (c, spans) = parse_spanned(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    match validate(&c, &spans, n) {
        Ok(()) => panic!("{s:?} validated"),
        Err(e) => e,
    }
}

#[test]
fn names_the_scenario_lacks_are_errors_at_their_column() {
    let n = names();
    for s in [
        "express/get/p99 < 10ms",
        "*/*/p99 < 10ms",
        "mixed:standard/put/errors == 0",
        "*:express/get/p99 < 10ms",
        "ratio/get/p50 < 0.5",
        "train/au >= 0.9",
        "*/au >= 0.9",
        "train/express/stall_p99 < 10ms",
        "train:express/ranged_get/p99 < 80ms",
        "express/ranged_get/ttfb_p99 < 80ms",
    ] {
        let (c, spans) = parse_spanned(s).unwrap();
        validate(&c, &spans, &n).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
    for (s, column, says) in [
        (
            "expres/get/p99 < 10ms",
            1,
            "the scenario has no target `expres`; expected one of `standard`, `express` or `*`",
        ),
        (
            "express/head/p99 < 10ms",
            9,
            "no `head` in any measured phase of the scenario",
        ),
        (
            "mixed:express/ranged_get/p99 < 10ms",
            15,
            "no `ranged_get` in phase `mixed`",
        ),
        (
            "mixd:express/get/p99 < 10ms",
            1,
            "no measured phase `mixd`; expected one of `mixed`, `train`",
        ),
        (
            "prepare:express/put/p99 < 10ms",
            1,
            "phase `prepare` is the run's own setup",
        ),
        (
            "express/put/ttfb_p99 < 10ms",
            9,
            "`put` has no time to first byte",
        ),
        (
            "mixed/au >= 0.9",
            1,
            "phase `mixed` is not a dataloader phase; expected one of `train`",
        ),
        ("tran/au >= 0.9", 1, "no measured phase `tran`"),
        ("train/exp/au >= 0.9", 7, "no target `exp`"),
    ] {
        let e = invalid(s, &n);
        assert_eq!(e.column, column, "{s:?}: {e}");
        assert!(e.message.contains(says), "{s:?}: {e}");
    }
    let mut only_gp = names();
    only_gp.targets.pop();
    let e = invalid("ratio/get/p50 < 0.5", &only_gp);
    assert!(e.message.contains("has no directory target"), "{e}");
    only_gp.phases.retain(|p| !p.loader);
    let e = invalid("*/au >= 0.9", &only_gp);
    assert!(e.message.contains("no dataloader phase"), "{e}");
    // A stored result does not know its mix: an op it lacks is judged
    // (as not measured), not refused.
    let mut stored = names();
    for p in &mut stored.phases {
        p.ops = None;
    }
    let (c, spans) = parse_spanned("express/head/p99 < 10ms").unwrap();
    assert!(validate(&c, &spans, &stored).is_ok());
}

#[test]
fn margins_and_verdicts() {
    assert!(Cmp::Lt.holds(9.0, 10.0) && !Cmp::Lt.holds(10.0, 10.0));
    assert!(Cmp::Le.holds(10.0, 10.0));
    assert!(Cmp::Ge.holds(0.9, 0.9) && !Cmp::Gt.holds(0.9, 0.9));
    assert!(Cmp::Eq.holds(0.0, 0.0) && !Cmp::Eq.holds(1.0, 0.0));
    assert_eq!(Cmp::Lt.margin(8.0, 10.0), 2.0);
    assert_eq!(Cmp::Gt.margin(8.0, 10.0), -2.0);
    assert_eq!(Cmp::Eq.margin(3.0, 0.0), -3.0);
}

// ---- property tests ----

fn name_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._-]{0,12}".prop_filter("not the ratio keyword", |s| s != RATIO)
}

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![1 => Just(Name::Any), 4 => name_text().prop_map(Name::Is)]
}

fn op_sel() -> impl Strategy<Value = OpSel> {
    prop_oneof![
        Just(OpSel::Any),
        prop::sample::select(OpKind::ALL.to_vec()).prop_map(OpSel::Is)
    ]
}

fn subject() -> impl Strategy<Value = Subject> {
    let op_stat = prop::sample::select(OpStat::all());
    let ratio_stat = prop::sample::select(
        OpStat::all()
            .into_iter()
            .filter(|s| s.has_ratio())
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        (name(), op_sel(), op_stat).prop_map(|(target, op, stat)| Subject::Op { target, op, stat }),
        (op_sel(), ratio_stat).prop_map(|(op, stat)| Subject::Ratio { op, stat }),
        (
            name(),
            prop::option::of(name()),
            prop::sample::select(DataloaderStat::all())
        )
            .prop_map(|(phase, target, stat)| Subject::Dataloader {
                phase,
                target,
                stat
            }),
    ]
}

/// A decimal as a person writes it: digits, maybe a fraction.
fn decimal(max_int: u64) -> impl Strategy<Value = f64> {
    (0..=max_int, 0u32..4, 0u64..1000).prop_map(|(i, places, frac)| {
        let text = match places {
            0 => i.to_string(),
            p => format!("{i}.{:0width$}", frac % 10u64.pow(p), width = p as usize),
        };
        text.parse().unwrap()
    })
}

fn limit(q: Quantity) -> BoxedStrategy<Limit> {
    let l = |units: Vec<Unit>, max: u64| {
        (decimal(max), prop::sample::select(units))
            .prop_map(|(number, unit)| Limit { number, unit })
            .boxed()
    };
    match q {
        Quantity::Duration => l(vec![Unit::Ns, Unit::Us, Unit::Ms, Unit::S], 1_000_000),
        Quantity::Fraction => {
            prop_oneof![l(vec![Unit::Percent], 99), l(vec![Unit::Plain], 0),].boxed()
        }
        Quantity::Throughput => l(
            vec![
                Unit::KiBps,
                Unit::MiBps,
                Unit::GiBps,
                Unit::KBps,
                Unit::MBps,
                Unit::GBps,
            ],
            1_000_000,
        ),
        Quantity::OpsRate | Quantity::Count | Quantity::Ratio => {
            l(vec![Unit::Plain], u64::MAX >> 11)
        }
    }
}

fn check() -> impl Strategy<Value = Check> {
    let cmp = prop::sample::select(vec![Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq]);
    (subject(), prop::option::of(name()), cmp).prop_flat_map(|(subject, scope, cmp)| {
        let scope = match subject {
            Subject::Dataloader { .. } => None,
            _ => scope,
        };
        limit(subject.quantity()).prop_map(move |limit| Check {
            scope: scope.clone(),
            subject: subject.clone(),
            cmp,
            limit,
        })
    })
}

/// Text made of the language's own pieces, so the parser is driven deep,
/// not just rejected at the first character.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "express",
        "get",
        "ranged-get",
        "p99",
        "ttfb_p50",
        "error_rate",
        "au",
        "ratio",
        "train",
        "*",
        "/",
        ":",
        " ",
        "<",
        "<=",
        ">",
        ">=",
        "==",
        "=",
        "!",
        "10",
        "0.5",
        ".",
        "-",
        "ms",
        "µs",
        "%",
        "x",
        "/s",
        "MiB/s",
        "\t",
        "é",
        "\u{0}",
        "9999999999999999999999",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..14).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_columns_stay_inside(s in prop_oneof![any::<String>(), token_soup()]) {
        if let Err(e) = parse(&s) {
            prop_assert!(e.column >= 1 && e.column <= s.chars().count() + 1, "{s:?}: {e}");
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn printing_then_parsing_gives_the_same_check(c in check()) {
        let text = c.to_string();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref(), Ok(&c), "{}", text);
        prop_assert_eq!(back.unwrap().to_string(), text);
    }

    #[test]
    fn units_normalise(us in 0u64..100_000_000, pct in 0u64..=10_000, mib in 0u64..100_000) {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300);
        let base = |s: String| parse(&s).unwrap_or_else(|e| panic!("{s}: {e}")).limit.base();
        // A whole number of microseconds, also written in ns, ms and s.
        let point = |v: u64, places: usize| {
            let s = format!("{v:0>width$}", width = places + 1);
            let (i, f) = s.split_at(s.len() - places);
            format!("{i}.{f}")
        };
        let want = us as f64;
        for text in [
            format!("a/get/p99 < {us}us"),
            format!("a/get/p99 < {}ns", us * 1000),
            format!("a/get/p99 < {}ms", point(us, 3)),
            format!("a/get/p99 < {}s", point(us, 6)),
            format!("a/get/p99 < {us}µs"),
        ] {
            let got = base(text.clone());
            prop_assert!(close(got, want), "{} -> {}", text, got);
        }
        // Hundredths of a percent, as a percentage and as a fraction.
        let frac = base(format!("a/*/error_rate <= {}%", point(pct, 2)));
        let plain = base(format!("a/*/error_rate <= {}", point(pct, 4)));
        prop_assert!(close(frac, plain), "{} {}", frac, plain);
        prop_assert!(close(frac, pct as f64 / 10_000.0), "{}", frac);
        // GiB/s is 1024 MiB/s; a plain number is MiB/s; MB/s are decimal.
        let gib = base(format!("a/get/mib_per_sec > {mib}GiB/s"));
        prop_assert!(close(gib, (mib * 1024) as f64), "{}", gib);
        let plain = base(format!("a/get/mib_per_sec > {mib}"));
        prop_assert!(close(plain, mib as f64), "{}", plain);
        let mb = base(format!("a/get/mib_per_sec > {mib}MB/s"));
        prop_assert!(close(mb, mib as f64 * 1e6 / 1048576.0), "{}", mb);
    }
}
