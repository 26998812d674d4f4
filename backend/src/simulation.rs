//! Simulation mode: with no `TS_CLIENT_ID`, this process plays TradeStation
//! itself. The `simulator` crate is linked only with the `simulator` cargo
//! feature (on by default); a binary built without it refuses simulation mode
//! at start-up with one line, so a production build cannot fall into it.

#[cfg(feature = "simulator")]
use crate::config::Endpoints;
use crate::config::{Config, SimulatorSettings, TradeStationSettings};
use crate::secret::EncryptionKey;
use url::Url;

/// The running simulator, kept by [`crate::Started`] for tests and logs.
#[cfg(feature = "simulator")]
pub type Simulator = simulator::Simulator;

/// Without the `simulator` feature no simulator can exist.
#[cfg(not(feature = "simulator"))]
#[derive(Debug)]
pub enum Simulator {}

/// Simulation mode asked of a binary built without the simulator.
#[derive(Debug, thiserror::Error)]
#[error(
    "TS_CLIENT_ID: not set, and this binary was built without the simulator (cargo feature `simulator`); set TS_CLIENT_ID and TS_CLIENT_SECRET"
)]
pub struct NotBuiltIn;

/// The simulator for an app reachable at `origin`, and the provider
/// credentials that talk to it.
///
/// # Errors
/// [`NotBuiltIn`] without the `simulator` feature.
#[cfg(feature = "simulator")]
pub fn start(
    config: &Config,
    settings: &SimulatorSettings,
    origin: &Url,
    key: &EncryptionKey,
) -> Result<(TradeStationSettings, Simulator), NotBuiltIn> {
    use sha2::{Digest, Sha256};

    let urls = simulator::SimUrls::new(origin);
    let client_id = "simulated-client".to_owned();
    let client_secret = crate::session::random_token();
    // A key of its own, derived from the encryption key, so one secret serves
    // both uses without either revealing the other.
    let token_key: [u8; 32] = Sha256::new()
        .chain_update(b"simulator token key v1")
        .chain_update(key.expose_secret())
        .finalize()
        .into();
    let mut sim_config = simulator::SimConfig::new(
        urls.issuer.clone(),
        client_id.clone(),
        client_secret.clone(),
        token_key,
    );
    sim_config.access_token_ttl = settings.access_token_ttl;
    sim_config.rotate_refresh_tokens = settings.rotate_refresh_tokens;
    tracing::warn!(
        url = %urls.issuer,
        "SIMULATION MODE: TS_CLIENT_ID is not set, so TradeStation is simulated by this process; no real account or market data is used"
    );
    for name in &config.ignored_in_simulation {
        tracing::warn!(variable = name, "ignored in simulation mode");
    }
    let redirect_uri = origin
        .join("/api/ts/callback")
        .unwrap_or_else(|_| origin.clone());
    // The simulator accepts only this app's own callback.
    sim_config.redirect_uris = vec![redirect_uri.to_string()];
    let credentials = TradeStationSettings {
        client_id,
        client_secret: crate::secret::ClientSecret::new(client_secret),
        redirect_uri,
        endpoints: Endpoints::from(urls),
    };
    Ok((credentials, simulator::Simulator::new(sim_config)))
}

/// Without the `simulator` feature simulation mode cannot start.
///
/// # Errors
/// Always [`NotBuiltIn`].
#[cfg(not(feature = "simulator"))]
pub fn start(
    _config: &Config,
    _settings: &SimulatorSettings,
    _origin: &Url,
    _key: &EncryptionKey,
) -> Result<(TradeStationSettings, Simulator), NotBuiltIn> {
    Err(NotBuiltIn)
}

/// Mounts the simulator's routes beside the app's.
#[cfg(feature = "simulator")]
pub fn mount(router: axum::Router, simulator: Option<&Simulator>) -> axum::Router {
    match simulator {
        Some(sim) => router.nest(simulator::layout::MOUNT, sim.router()),
        None => router,
    }
}

#[cfg(not(feature = "simulator"))]
pub fn mount(router: axum::Router, _simulator: Option<&Simulator>) -> axum::Router {
    router
}

#[cfg(feature = "simulator")]
impl From<simulator::SimUrls> for Endpoints {
    fn from(urls: simulator::SimUrls) -> Self {
        Self {
            auth_url: urls.authorize,
            token_url: urls.token,
            revoke_url: urls.revoke,
            jwks_url: urls.jwks,
            issuer: urls.issuer,
            base_url: urls.api_base,
        }
    }
}
