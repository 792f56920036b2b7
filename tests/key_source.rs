//! Property tests of the key source (`jwtgate::keys`) with a fake clock: any
//! sequence of clock steps, unknown kids and fetch outcomes keeps the
//! documented bounds (issue 14): one fetch in flight, kid-triggered fetches at
//! least a cooldown apart, keys never served past `max_stale_seconds`,
//! scheduled delays within the jitter band.

use jwtgate::keys::{Event, FailureKind, KeySource, Readiness, RemoteJwks};
use jwtgate::KeySetOptions;
use proptest::prelude::*;

const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn jwks(kid: u8) -> String {
    format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k{kid}","x":"{ED_X}"}}]}}"#)
}

/// What happens between two looks at the source.
#[derive(Debug, Clone)]
enum Step {
    /// The clock moves on.
    Wait(u16),
    /// A token with this kid arrives, and no key has it.
    UnknownKid(u16),
    /// The fetch in flight (if any) gets this answer.
    Answer(Outcome),
}

#[derive(Debug, Clone)]
enum Outcome {
    Keys(u8, Option<u32>),
    Status(u16),
    Garbage,
    Network,
    Silence,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u16..120).prop_map(Step::Wait),
        4 => any::<u16>().prop_map(Step::UnknownKid),
        3 => prop_oneof![
            (0u8..4, proptest::option::of(0u32..5000)).prop_map(|(k, age)| Outcome::Keys(k, age)),
            prop_oneof![Just(500u16), Just(302), Just(404)].prop_map(Outcome::Status),
            Just(Outcome::Garbage),
            Just(Outcome::Network),
            Just(Outcome::Silence),
        ]
        .prop_map(Step::Answer),
    ]
}

fn config() -> impl Strategy<Value = RemoteJwks> {
    (1u32..120, 1u32..60, 1u32..10, 1u32..2000, 0u32..=50).prop_map(
        |(refresh, cooldown, timeout, max_stale, jitter)| RemoteJwks {
            refresh_seconds: refresh,
            min_refresh_seconds: 1,
            max_refresh_seconds: 300,
            cooldown_seconds: cooldown,
            timeout_seconds: timeout,
            retry_seconds: 1,
            max_retry_seconds: 30,
            max_stale_seconds: max_stale,
            jitter_percent: jitter,
            ..RemoteJwks::with_uri("https://idp.example.com/jwks")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn bounds_hold_under_any_sequence(config in config(), seed in any::<u64>(), steps in proptest::collection::vec(step(), 1..200)) {
        let mut source = KeySource::new(&config, None, KeySetOptions::default(), seed).unwrap();
        let cooldown = i64::from(config.cooldown_seconds);
        let mut now: i64 = 1_000_000;
        let mut in_flight: Option<i64> = None;
        let mut last_start: Option<i64> = None;
        let mut kid_asked = false;
        let mut last_good: Option<i64> = None;
        for step in steps {
            // The front end looks whenever anything happens.
            if let Some(fetch) = source.next_fetch(now) {
                prop_assert!(in_flight.is_none() || now > in_flight.unwrap() + i64::from(config.timeout_seconds),
                    "a second fetch while one is in flight");
                if fetch.reason == "unknown_kid" {
                    prop_assert!(kid_asked, "a kid fetch nobody asked for");
                    if let Some(last) = last_start {
                        prop_assert!(now >= last + cooldown, "kid fetch at {now}, previous fetch at {last}, cooldown {cooldown}");
                    }
                }
                kid_asked = false;
                in_flight = Some(now);
                last_start = Some(now);
            }
            match step {
                Step::Wait(dt) => now += i64::from(dt),
                Step::UnknownKid(kid) => {
                    if source.unknown_kid(now, &format!("x{kid}")) {
                        kid_asked = true;
                        if let Some(last) = last_start {
                            prop_assert!(now >= last + cooldown);
                        }
                    }
                }
                Step::Answer(outcome) => {
                    let Some(started) = in_flight else { continue };
                    let timed_out = now > started + i64::from(config.timeout_seconds);
                    let event = match outcome {
                        Outcome::Keys(kid, age) => {
                            let headers: Vec<(String, String)> = age
                                .map(|a| ("cache-control".to_string(), format!("max-age={a}")))
                                .into_iter()
                                .collect();
                            let event = source.fetched(now, 200, &headers, jwks(kid).as_bytes());
                            if !timed_out {
                                last_good = Some(now);
                                // The next refresh is within the clamped, jittered band.
                                let interval = age.map_or(i64::from(config.refresh_seconds), |a| i64::from(a.clamp(1, 300)));
                                let wake = source.wake_at() - now;
                                prop_assert!(wake <= interval && wake >= (interval - interval * i64::from(config.jitter_percent) / 100).max(1),
                                    "refresh after {wake} s for an interval of {interval} s");
                            }
                            event
                        }
                        Outcome::Status(status) => source.fetched(now, status, &[], b""),
                        Outcome::Garbage => source.fetched(now, 200, &[], b"{\"keys\":"),
                        Outcome::Network => source.failed(now, FailureKind::Network, "refused"),
                        Outcome::Silence => continue,
                    };
                    if timed_out {
                        prop_assert!(matches!(event, Event::Ignored), "an answer after the timeout counts: {event:?}");
                    } else {
                        prop_assert!(!matches!(event, Event::Ignored));
                    }
                    in_flight = None;
                }
            }
            // No keys are served past max_stale, and none without a good fetch.
            match source.readiness(now) {
                Readiness::Ready => {
                    let good = last_good.expect("ready without a good fetch");
                    prop_assert_eq!(source.fetched_at(), Some(good));
                    prop_assert!(now <= good + i64::from(config.max_stale_seconds));
                    prop_assert!(source.key_set().is_some());
                }
                Readiness::Pending { .. } => prop_assert!(last_good.is_none()),
                Readiness::Unavailable { .. } => {
                    prop_assert!(last_good.is_none_or(|g| now > g + i64::from(config.max_stale_seconds)));
                }
            }
        }
    }

    /// A flood of random kids against a healthy server costs at most one fetch
    /// per cooldown beyond the scheduled refreshes.
    #[test]
    fn a_kid_flood_costs_one_fetch_per_cooldown(cooldown in 1u32..60, seconds in 1i64..700, per_second in 1usize..8, seed in any::<u64>()) {
        let config = RemoteJwks { cooldown_seconds: cooldown, jitter_percent: 0, ..RemoteJwks::with_uri("https://idp.example.com/jwks") };
        let mut source = KeySource::new(&config, None, KeySetOptions::default(), seed).unwrap();
        let start: i64 = 5_000;
        let mut fetches = 0i64;
        let mut n = 0u64;
        for now in start..start + seconds {
            for _ in 0..per_second {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407 ^ seed);
                source.unknown_kid(now, &format!("{n:x}"));
                if source.next_fetch(now).is_some() {
                    fetches += 1;
                    source.fetched(now, 200, &[], jwks(0).as_bytes());
                }
            }
        }
        let bound = 1 + seconds / i64::from(cooldown) + seconds / 600 + 1;
        prop_assert!(fetches <= bound, "{fetches} fetches in {seconds} s, bound {bound}");
    }
}
