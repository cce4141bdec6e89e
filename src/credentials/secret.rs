//! Where the token-signing secret comes from.

use std::io::Write;
use std::path::Path;

use crate::config::AuthSettings;

pub const MIN_SECRET_BYTES: usize = 32;
const SECRET_FILE: &str = "jwt.secret";

/// The configured secret, or (where allowed) one generated on first start and kept in
/// `<data_dir>/jwt.secret` with mode 0600 so tokens survive restarts.
pub fn resolve(auth: &AuthSettings, data_dir: &Path) -> Result<Vec<u8>, String> {
    if !auth.jwt_secret.is_empty() {
        return Ok(auth.jwt_secret.as_bytes().to_vec());
    }
    if !auth.allow_generated_secret {
        return Err(format!(
            "auth.jwt_secret: a secret of at least {MIN_SECRET_BYTES} bytes is required in this profile \
             (set VAULTLINE__AUTH__JWT_SECRET)"
        ));
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= MIN_SECRET_BYTES => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(format!("{}: the stored secret is shorter than {MIN_SECRET_BYTES} bytes", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    crate::store::private_dir(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret).map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, Sources};

    fn auth() -> AuthSettings {
        Settings::load(&Sources::default()).unwrap().auth
    }

    #[test]
    fn generated_once_then_reused_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(&auth(), dir.path()).unwrap();
        assert!(first.len() >= MIN_SECRET_BYTES);
        assert_eq!(resolve(&auth(), dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn refused_when_generation_is_not_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = auth();
        settings.allow_generated_secret = false;
        assert!(resolve(&settings, dir.path()).unwrap_err().contains("auth.jwt_secret"));
        settings.jwt_secret = "x".repeat(32);
        assert_eq!(resolve(&settings, dir.path()).unwrap(), "x".repeat(32).into_bytes());
    }
}
