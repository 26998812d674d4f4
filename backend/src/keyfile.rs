//! The token encryption key: given in the environment, or — in simulation
//! mode only — generated once into a file of the data folder (mode 0600) and
//! read from it on every later start, so sessions survive restarts.

use crate::config::KeySource;
use crate::secret::EncryptionKey;
use base64::Engine;
use std::path::Path;

/// Why the key could not be had. Displays as one line naming the file,
/// never the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyFileError(String);

/// The key `source` names, generating it on first use of a key file.
///
/// # Errors
/// The file exists but does not hold 32 base64 bytes, or cannot be written.
pub fn load(source: &KeySource) -> Result<EncryptionKey, KeyFileError> {
    match source {
        KeySource::Given(key) => Ok(key.clone()),
        KeySource::File(path) => read_or_generate(path),
    }
}

fn read_or_generate(path: &Path) -> Result<EncryptionKey, KeyFileError> {
    let engine = base64::engine::general_purpose::STANDARD;
    if let Ok(text) = std::fs::read_to_string(path) {
        let bytes = engine
            .decode(text.trim())
            .map_err(|_| KeyFileError(format!("{} is not base64", path.display())))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyFileError(format!("{} does not hold 32 bytes", path.display())))?;
        return Ok(EncryptionKey::new(bytes));
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| KeyFileError(e.to_string()))?;
    }
    write_private(path, engine.encode(bytes).as_bytes())
        .map_err(|e| KeyFileError(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "generated a token encryption key");
    Ok(EncryptionKey::new(bytes))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data/encryption.key");
        let first = load(&KeySource::File(path.clone())).expect("generated");
        let again = load(&KeySource::File(path.clone())).expect("read back");
        assert_eq!(first.expose_secret(), again.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("short.key");
        std::fs::write(&path, "c2hvcnQ=").expect("write");
        let err = load(&KeySource::File(path)).expect_err("refused");
        assert!(err.to_string().contains("short.key"), "{err}");
    }
}
