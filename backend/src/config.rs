//! Configuration: every variable of the contract's table, read once at
//! start-up into typed values.
//!
//! [`Config::from_lookup`] takes any `key -> value` function, so tests build a
//! configuration from a map without touching the process environment;
//! [`Config::from_env`] is that over `std::env` (after `.env` was loaded by
//! `main`, without overriding the real environment). A bad value is a
//! [`ConfigError`] naming the variable; secrets are never echoed.

use crate::secret::{ClientSecret, EncryptionKey};
use base64::Engine;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Where the backend gets its tokens from.
#[derive(Debug, Clone)]
pub enum Mode {
    /// No `TS_CLIENT_ID`: the built-in simulator under `/sim` plays
    /// TradeStation. Its endpoints are known only once the listener is bound.
    Simulator(SimulatorSettings),
    /// The real TradeStation (SIM or live, by `TS_BASE_URL`).
    TradeStation(Box<TradeStationSettings>),
}

/// Switches of the built-in simulator (`SIM_*` variables).
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    /// `SIM_ACCESS_TOKEN_TTL` seconds, default 1200 like TradeStation.
    pub access_token_ttl: Duration,
    /// `SIM_REFRESH_ROTATION`: every refresh returns a new refresh token.
    pub rotate_refresh_tokens: bool,
}

#[derive(Debug, Clone)]
pub struct TradeStationSettings {
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub endpoints: Endpoints,
    pub redirect_uri: Url,
}

/// The provider's URLs. In simulation mode they all point at `/sim`.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub auth_url: Url,
    pub token_url: Url,
    pub revoke_url: Url,
    /// Expected `iss`, compared byte for byte.
    pub issuer: String,
    pub jwks_url: Url,
    /// API base: requests go to `{base_url}/v3/...`.
    pub base_url: Url,
}

/// Where `TOKEN_ENCRYPTION_KEY` comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Given(EncryptionKey),
    /// Simulation mode without a key: generated into (and later read from)
    /// this file.
    File(PathBuf),
}

/// `TS_TRADING`: whether the order routes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradingSwitch {
    On,
    Off,
    /// On against the simulator and TradeStation's SIM, off against live.
    Auto,
}

/// TradeStation's SIM API base, compared exactly (after URL normalisation).
pub const SIM_BASE_URL: &str = "https://sim-api.tradestation.com/";

pub use shared::api::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub audience: String,
    pub scope: String,
    pub http_timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub revoke_on_logout: bool,
    pub refresh_skew: Duration,
    pub allowed_origins: Vec<String>,
    pub bind_addr: SocketAddr,
    pub database_url: crate::store::DatabaseUrl,
    pub encryption_key: KeySource,
    pub old_keys: Vec<EncryptionKey>,
    pub static_dir: PathBuf,
    /// `None` when `SESSION_IDLE_DAYS=0` turns the sweep off.
    pub session_idle: Option<Duration>,
    /// `RATE_LIMIT_PER_MINUTE`: sign-in requests per client address per
    /// minute; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// `MAX_CONNECTIONS`: connections served at once.
    pub max_connections: usize,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Variables that simulation mode ignores but found set (warned about once).
    pub ignored_in_simulation: Vec<&'static str>,
    pub trading: TradingSwitch,
}

impl Config {
    /// `simulator` in simulation mode, `sim` against TradeStation's SIM,
    /// `live` against any other API base.
    pub fn environment(&self) -> Environment {
        match &self.mode {
            Mode::Simulator(_) => Environment::Simulator,
            Mode::TradeStation(ts) if ts.endpoints.base_url.as_str() == SIM_BASE_URL => {
                Environment::Sim
            }
            Mode::TradeStation(_) => Environment::Live,
        }
    }

    /// Whether order routes work: live trading only by `TS_TRADING=on`.
    pub fn trading_enabled(&self) -> bool {
        match self.trading {
            TradingSwitch::On => true,
            TradingSwitch::Off => false,
            TradingSwitch::Auto => self.environment() != Environment::Live,
        }
    }
}

/// One bad variable. Displays as one line naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

const DEFAULT_AUTH_URL: &str = "https://signin.tradestation.com/authorize";
const DEFAULT_TOKEN_URL: &str = "https://signin.tradestation.com/oauth/token";
const DEFAULT_REVOKE_URL: &str = "https://signin.tradestation.com/oauth/revoke";
const DEFAULT_BASE_URL: &str = "https://sim-api.tradestation.com";
const DEFAULT_AUDIENCE: &str = "https://api.tradestation.com";
const DEFAULT_SCOPE: &str = "openid profile offline_access MarketData ReadAccount Trade";
const DEFAULT_REDIRECT_URI: &str = "http://localhost:8000/api/ts/callback";
const DEFAULT_ORIGINS: &str = "http://localhost:8080,http://127.0.0.1:8080";
/// Upper bounds of the numeric variables: generous for any real use, and
/// far from where `Duration`/`Instant` arithmetic or `days * 86_400` could
/// overflow.
const MAX_HTTP_TIMEOUT_SECS: u64 = 3_600;
const MAX_STREAM_IDLE_SECS: u64 = 86_400;
const MAX_REFRESH_SKEW_SECS: u64 = 86_400;
const MAX_TOKEN_TTL_SECS: u64 = 7 * 86_400;
const MAX_IDLE_DAYS: u64 = 3_650;
const MAX_RATE_LIMIT: u64 = 1_000_000;
const MAX_CONNECTIONS: u64 = 1_000_000;
/// The file simulation mode keeps its generated key in.
pub const GENERATED_KEY_FILE: &str = "data/encryption.key";

/// Reads variables through a lookup, treating empty values as unset.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    fn url(&self, name: &'static str, default: &str) -> Result<Url, ConfigError> {
        let raw = self.string(name, default);
        parse_http_url(&raw).map_err(|problem| bad(name, format!("{problem}: {raw:?}")))
    }

    /// A whole number in `range`: out of range or unparsable stops start-up
    /// (never a silent wrap or a later overflow of `Duration`/`Instant`).
    fn number(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        unit: &str,
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let value = raw.parse::<u64>().map_err(|_| {
            bad(
                name,
                format!("expected a whole number of {unit}, got {raw:?}"),
            )
        })?;
        if !range.contains(&value) {
            return Err(bad(
                name,
                format!(
                    "{value} is out of range: expected {} to {} {unit}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(value)
    }

    fn seconds(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range, "seconds")
            .map(Duration::from_secs)
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(bad(
                name,
                format!("expected true, false, 1 or 0, got {other:?}"),
            )),
        }
    }
}

fn parse_http_url(raw: &str) -> Result<Url, &'static str> {
    let url = Url::parse(raw).map_err(|_| "not a valid URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL");
    }
    Ok(url)
}

/// Parses a base64 32-byte key. The error never contains the value.
fn parse_key(name: &'static str, raw: &str) -> Result<EncryptionKey, ConfigError> {
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine
        .decode(raw.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(raw.trim()))
        .map_err(|_| bad(name, "expected 32 bytes in base64; the value is not base64"))?;
    let array: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        bad(
            name,
            format!(
                "expected 32 bytes in base64; it decodes to {} bytes",
                b.len()
            ),
        )
    })?;
    Ok(EncryptionKey::new(array))
}

fn parse_origin(raw: &str) -> Result<String, &'static str> {
    let url = parse_http_url(raw)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("an origin has no path, query or fragment");
    }
    Ok(url.origin().ascii_serialization())
}

/// The default issuer: the origin of the authorize URL plus `/`.
fn issuer_of(auth_url: &Url) -> String {
    format!("{}/", auth_url.origin().ascii_serialization())
}

impl Config {
    /// Reads the process environment (load `.env` before calling this).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every variable through `lookup`.
    ///
    /// # Errors
    /// The first bad variable, named in a one-line [`ConfigError`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);

        let auth_url = vars.url("TS_AUTH_URL", DEFAULT_AUTH_URL)?;
        let token_url = vars.url("TS_TOKEN_URL", DEFAULT_TOKEN_URL)?;
        let revoke_url = vars.url("TS_REVOKE_URL", DEFAULT_REVOKE_URL)?;
        let issuer = vars
            .get("TS_ISSUER")
            .unwrap_or_else(|| issuer_of(&auth_url));
        parse_http_url(&issuer).map_err(|p| bad("TS_ISSUER", format!("{p}: {issuer:?}")))?;
        let jwks_default = format!("{issuer}.well-known/jwks.json");
        let jwks_url = vars.url("TS_JWKS_URL", &jwks_default)?;
        let base_url = vars.url("TS_BASE_URL", DEFAULT_BASE_URL)?;
        let redirect_uri = vars.url("TS_REDIRECT_URI", DEFAULT_REDIRECT_URI)?;

        let client_id = vars.get("TS_CLIENT_ID");
        let client_secret = vars.get("TS_CLIENT_SECRET");
        let key = vars
            .get("TOKEN_ENCRYPTION_KEY")
            .map(|raw| parse_key("TOKEN_ENCRYPTION_KEY", &raw))
            .transpose()?;

        let (mode, encryption_key, ignored_in_simulation) = match client_id {
            Some(client_id) => {
                let client_secret = client_secret.ok_or_else(|| {
                    bad(
                        "TS_CLIENT_SECRET",
                        "required when TS_CLIENT_ID is set (or unset TS_CLIENT_ID to use the simulator)",
                    )
                })?;
                let key = key.ok_or_else(|| {
                    bad(
                        "TOKEN_ENCRYPTION_KEY",
                        "required when TS_CLIENT_ID is set: 32 random bytes in base64 (openssl rand -base64 32)",
                    )
                })?;
                let settings = TradeStationSettings {
                    client_id,
                    client_secret: ClientSecret::new(client_secret),
                    endpoints: Endpoints {
                        auth_url,
                        token_url,
                        revoke_url,
                        issuer,
                        jwks_url,
                        base_url,
                    },
                    redirect_uri,
                };
                (
                    Mode::TradeStation(Box::new(settings)),
                    KeySource::Given(key),
                    Vec::new(),
                )
            }
            None => {
                let ignored = [
                    "TS_AUTH_URL",
                    "TS_TOKEN_URL",
                    "TS_REVOKE_URL",
                    "TS_ISSUER",
                    "TS_JWKS_URL",
                    "TS_BASE_URL",
                    "TS_REDIRECT_URI",
                    "TS_CLIENT_SECRET",
                ]
                .into_iter()
                .filter(|name| vars.get(name).is_some())
                .collect();
                let settings = SimulatorSettings {
                    access_token_ttl: vars.seconds(
                        "SIM_ACCESS_TOKEN_TTL",
                        1200,
                        1..=MAX_TOKEN_TTL_SECS,
                    )?,
                    rotate_refresh_tokens: vars.boolean("SIM_REFRESH_ROTATION", false)?,
                };
                let key = match key {
                    Some(key) => KeySource::Given(key),
                    None => KeySource::File(PathBuf::from(GENERATED_KEY_FILE)),
                };
                (Mode::Simulator(settings), key, ignored)
            }
        };

        let old_keys = match vars.get("TOKEN_ENCRYPTION_OLD_KEYS") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| parse_key("TOKEN_ENCRYPTION_OLD_KEYS", k))
                .collect::<Result<_, _>>()?,
        };

        let allowed_origins = vars
            .string("ALLOWED_ORIGINS", DEFAULT_ORIGINS)
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| parse_origin(o).map_err(|p| bad("ALLOWED_ORIGINS", format!("{p}: {o:?}"))))
            .collect::<Result<_, _>>()?;

        let bind_raw = vars.string("BIND_ADDR", "127.0.0.1:8000");
        let bind_addr = bind_raw.parse().map_err(|_| {
            bad(
                "BIND_ADDR",
                format!("expected an address like 127.0.0.1:8000, got {bind_raw:?}"),
            )
        })?;

        let database_url = vars
            .string("DATABASE_URL", "sqlite://data/tokens.db")
            .parse::<crate::store::DatabaseUrl>()
            .map_err(|e| bad("DATABASE_URL", e.to_string()))?;

        let idle_days = vars.number("SESSION_IDLE_DAYS", 30, 0..=MAX_IDLE_DAYS, "days")?;
        let trusted_proxies = vars
            .get("TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpAddr>().map_err(|_| {
                    bad(
                        "TRUSTED_PROXIES",
                        format!("expected comma-separated IP addresses, got {p:?}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;

        let log_format = match vars.get("LOG_FORMAT").as_deref() {
            None | Some("pretty" | "text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "LOG_FORMAT",
                    format!("expected json or pretty, got {other:?}"),
                ));
            }
        };

        let trading = match vars.get("TS_TRADING").as_deref() {
            None | Some("auto") => TradingSwitch::Auto,
            Some("on") => TradingSwitch::On,
            Some("off") => TradingSwitch::Off,
            Some(other) => {
                return Err(bad(
                    "TS_TRADING",
                    format!("expected on, off or auto, got {other:?}"),
                ));
            }
        };

        Ok(Self {
            trading,
            mode,
            audience: vars.string("TS_AUDIENCE", DEFAULT_AUDIENCE),
            scope: vars.string("TS_SCOPE", DEFAULT_SCOPE),
            http_timeout: vars.seconds("TS_HTTP_TIMEOUT", 15, 1..=MAX_HTTP_TIMEOUT_SECS)?,
            stream_idle_timeout: vars.seconds(
                "TS_STREAM_IDLE_TIMEOUT",
                30,
                1..=MAX_STREAM_IDLE_SECS,
            )?,
            revoke_on_logout: vars.boolean("TS_REVOKE_ON_LOGOUT", true)?,
            refresh_skew: vars.seconds("TS_REFRESH_SKEW", 60, 0..=MAX_REFRESH_SKEW_SECS)?,
            allowed_origins,
            bind_addr,
            database_url,
            encryption_key,
            old_keys,
            static_dir: PathBuf::from(vars.string("STATIC_DIR", "dist")),
            // In range, so the product cannot overflow.
            session_idle: (idle_days > 0).then(|| Duration::from_secs(idle_days * 86_400)),
            rate_limit_per_minute: u32::try_from(vars.number(
                "RATE_LIMIT_PER_MINUTE",
                60,
                0..=MAX_RATE_LIMIT,
                "requests",
            )?)
            .unwrap_or(u32::MAX),
            trusted_proxies,
            max_connections: usize::try_from(vars.number(
                "MAX_CONNECTIONS",
                10_000,
                1..=MAX_CONNECTIONS,
                "connections",
            )?)
            .unwrap_or(usize::MAX),
            log_filter: vars.string("RUST_LOG", "info"),
            log_format,
            ignored_in_simulation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn trading_is_on_by_default_only_away_from_live() {
        let simulator = config(&[]).unwrap();
        assert_eq!(simulator.environment(), Environment::Simulator);
        assert!(simulator.trading_enabled());
        let ts = |base: &str, trading: &str| {
            config(&[
                ("TS_CLIENT_ID", "id"),
                ("TS_CLIENT_SECRET", "secret"),
                ("TOKEN_ENCRYPTION_KEY", KEY),
                ("TS_BASE_URL", base),
                ("TS_TRADING", trading),
            ])
            .unwrap()
        };
        let sim = ts("https://sim-api.tradestation.com", "auto");
        assert_eq!(sim.environment(), Environment::Sim);
        assert!(sim.trading_enabled());
        assert!(ts("https://sim-api.tradestation.com/", "").trading_enabled());
        for other in [
            "https://api.tradestation.com",
            "http://sim-api.tradestation.com",
            "https://sim-api.tradestation.com:8443",
            "https://sim-api.tradestation.com/v2",
            "http://127.0.0.1:9",
        ] {
            let live = ts(other, "auto");
            assert_eq!(live.environment(), Environment::Live, "{other}");
            assert!(!live.trading_enabled(), "{other}");
        }
        assert!(ts("https://api.tradestation.com", "on").trading_enabled());
        assert!(!ts("https://sim-api.tradestation.com", "off").trading_enabled());
        assert!(!config(&[("TS_TRADING", "off")]).unwrap().trading_enabled());
        let error = config(&[("TS_TRADING", "yes")]).unwrap_err();
        assert_eq!(error.variable, "TS_TRADING");
    }

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 ASCII bytes

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn no_client_id_means_simulation_with_contract_defaults() {
        let c = config(&[]).unwrap();
        assert!(matches!(c.mode, Mode::Simulator(_)));
        assert_eq!(c.http_timeout, Duration::from_secs(15));
        assert_eq!(c.stream_idle_timeout, Duration::from_secs(30));
        assert_eq!(c.refresh_skew, Duration::from_secs(60));
        assert!(c.revoke_on_logout);
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.database_url, "sqlite://data/tokens.db");
        assert_eq!(
            c.allowed_origins,
            ["http://localhost:8080", "http://127.0.0.1:8080"]
        );
        assert_eq!(c.session_idle, Some(Duration::from_secs(30 * 86_400)));
        assert!(matches!(c.encryption_key, KeySource::File(_)));
        assert_eq!(c.scope, DEFAULT_SCOPE);
    }

    #[test]
    fn client_id_selects_tradestation_with_derived_issuer_and_jwks() {
        let c = config(&[
            ("TS_CLIENT_ID", "id"),
            ("TS_CLIENT_SECRET", "s"),
            ("TOKEN_ENCRYPTION_KEY", KEY),
        ])
        .unwrap();
        let Mode::TradeStation(ts) = c.mode else {
            panic!("expected TradeStation mode")
        };
        assert_eq!(ts.endpoints.issuer, "https://signin.tradestation.com/");
        assert_eq!(
            ts.endpoints.jwks_url.as_str(),
            "https://signin.tradestation.com/.well-known/jwks.json"
        );
        assert_eq!(
            ts.endpoints.base_url.as_str(),
            "https://sim-api.tradestation.com/"
        );
        assert_eq!(
            ts.redirect_uri.as_str(),
            "http://localhost:8000/api/ts/callback"
        );
    }

    #[test]
    fn a_client_id_without_secret_names_the_secret() {
        let err = config(&[("TS_CLIENT_ID", "id"), ("TOKEN_ENCRYPTION_KEY", KEY)]).unwrap_err();
        assert_eq!(err.variable, "TS_CLIENT_SECRET");
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused_without_echoing_it() {
        let short = "c2hvcnQta2V5"; // "short-key"
        let err = config(&[("TOKEN_ENCRYPTION_KEY", short)]).unwrap_err();
        assert_eq!(err.variable, "TOKEN_ENCRYPTION_KEY");
        assert!(!err.to_string().contains(short));
        assert!(err.to_string().contains("9 bytes"));
    }

    #[test]
    fn bad_values_name_their_variable_on_one_line() {
        for (name, value) in [
            ("TS_HTTP_TIMEOUT", "soon"),
            ("TS_REFRESH_SKEW", "-1"),
            ("TS_TOKEN_URL", "not a url"),
            ("TS_REVOKE_ON_LOGOUT", "yes"),
            ("BIND_ADDR", "localhost"),
            ("ALLOWED_ORIGINS", "http://ok.example,ftp://x"),
            ("SESSION_IDLE_DAYS", "a week"),
            ("DATABASE_URL", "mysql://u:pw@h/db"),
            ("LOG_FORMAT", "xml"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
            assert!(!err.to_string().contains('\n'));
            assert!(err.to_string().starts_with(name));
        }
    }

    #[test]
    fn out_of_range_numbers_stop_start_up_naming_the_variable() {
        for (name, value) in [
            ("TS_HTTP_TIMEOUT", "0"),
            ("TS_HTTP_TIMEOUT", "18446744073709551615"),
            ("TS_HTTP_TIMEOUT", "18446744073709551616"),
            ("TS_HTTP_TIMEOUT", "3601"),
            ("TS_STREAM_IDLE_TIMEOUT", "0"),
            ("TS_STREAM_IDLE_TIMEOUT", "86401"),
            ("TS_REFRESH_SKEW", "99999999999"),
            ("SESSION_IDLE_DAYS", "213503982334601"),
            ("SESSION_IDLE_DAYS", "3651"),
            ("SIM_ACCESS_TOKEN_TTL", "0"),
            ("SIM_ACCESS_TOKEN_TTL", "99999999999999"),
            ("RATE_LIMIT_PER_MINUTE", "-1"),
            ("RATE_LIMIT_PER_MINUTE", "4294967296"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "1000001"),
            ("BIND_ADDR", "127.0.0.1:65536"),
            ("BIND_ADDR", "127.0.0.1:-1"),
            ("TRUSTED_PROXIES", "10.0.0.1,not-an-ip"),
            ("TRUSTED_PROXIES", "10.0.0.0/8"),
        ] {
            let err = config(&[(name, value)]).expect_err(value);
            assert_eq!(err.variable, name, "{value}");
            assert!(!err.to_string().contains('\n'));
            assert!(err.to_string().starts_with(name));
        }
    }

    #[test]
    fn the_bounds_themselves_are_accepted() {
        let c = config(&[
            ("TS_HTTP_TIMEOUT", "3600"),
            ("SESSION_IDLE_DAYS", "3650"),
            ("MAX_CONNECTIONS", "1"),
            ("RATE_LIMIT_PER_MINUTE", "0"),
        ])
        .unwrap();
        assert_eq!(c.http_timeout, Duration::from_secs(3600));
        assert_eq!(c.session_idle, Some(Duration::from_secs(3650 * 86_400)));
        assert_eq!(c.max_connections, 1);
        assert_eq!(c.rate_limit_per_minute, 0);
    }

    #[test]
    fn sign_in_limits_and_trusted_proxies_are_read() {
        let c = config(&[]).unwrap();
        assert_eq!(c.rate_limit_per_minute, 60);
        assert_eq!(c.max_connections, 10_000);
        assert!(c.trusted_proxies.is_empty());
        let c = config(&[
            ("RATE_LIMIT_PER_MINUTE", "5"),
            ("MAX_CONNECTIONS", "200"),
            ("TRUSTED_PROXIES", " 10.0.0.1, ::1 ,"),
        ])
        .unwrap();
        assert_eq!(c.rate_limit_per_minute, 5);
        assert_eq!(c.max_connections, 200);
        assert_eq!(
            c.trusted_proxies,
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let err = config(&[
            ("TS_CLIENT_ID", "id"),
            ("TS_CLIENT_SECRET", "topsecret"),
            ("TOKEN_ENCRYPTION_KEY", "topsecret-not-base64!"),
        ])
        .unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
        let err = config(&[("DATABASE_URL", "mysql://u:pw-secret@h/db")]).unwrap_err();
        assert!(!err.to_string().contains("pw-secret"));
    }

    #[test]
    fn booleans_accept_the_four_spellings_and_zero_days_turns_the_sweep_off() {
        for (raw, want) in [("true", true), ("1", true), ("false", false), ("0", false)] {
            assert_eq!(
                config(&[("TS_REVOKE_ON_LOGOUT", raw)])
                    .unwrap()
                    .revoke_on_logout,
                want
            );
        }
        assert_eq!(
            config(&[("SESSION_IDLE_DAYS", "0")]).unwrap().session_idle,
            None
        );
    }

    #[test]
    fn simulation_notes_which_provider_urls_it_ignores() {
        let c = config(&[("TS_TOKEN_URL", "https://elsewhere.example/t")]).unwrap();
        assert_eq!(c.ignored_in_simulation, ["TS_TOKEN_URL"]);
    }
}
