//! `chaka keys`: creates Ed25519 signing keys for hubs and bank nodes (PKCS#8 PEM, readable
//! only by the owner) and prints the public half that the other side puts in its
//! configuration.

use anyhow::{Context, bail};
use chaka_protocol::keys::{KeyId, SigningKeyPair};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Create and inspect signing keys.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a new Ed25519 signing key and print its public key.
    Ed25519 {
        /// The key id the other side will know this key by, e.g. `icbc-2026-11`.
        #[arg(long)]
        key_id: String,
        /// Where to write the private key (PKCS#8 PEM, mode 0600).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Create the hub's secrets file (data, index, PIN and session keys) and signing key.
    Hub {
        /// Folder for `hub-secrets.toml` and `hub.pem` (mode 0600).
        #[arg(long, default_value = "chaka-data/keys")]
        out: PathBuf,
        /// The hub's signing key id.
        #[arg(long, default_value = "hub-1")]
        key_id: String,
        /// Overwrite existing files (every sealed field and wrapped key becomes unreadable).
        #[arg(long)]
        force: bool,
    },
    /// Print the public key of an existing signing key file.
    Public {
        /// The private key file (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
    },
}

/// Runs `chaka keys`.
pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Ed25519 { key_id, out, force } => {
            let key_id = KeyId::parse(&key_id).context("--key-id")?;
            let pair = SigningKeyPair::generate();
            write_private(&out, &pair, force)?;
            println!("key_id = \"{}\"", key_id.as_str());
            println!("public_key = \"{}\"", pair.public_key().to_base64url());
            Ok(())
        }
        KeysCommand::Hub { out, key_id, force } => {
            let key_id = KeyId::parse(&key_id).context("--key-id")?;
            let secrets = out.join("hub-secrets.toml");
            if secrets.exists() && !force {
                bail!(
                    "{} exists; pass --force to replace it (every sealed field becomes unreadable)",
                    secrets.display()
                );
            }
            let pair = SigningKeyPair::generate();
            write_private(&out.join("hub.pem"), &pair, force)?;
            write_secret_file(
                &secrets,
                chaka_hub::vault::Secrets::generate().to_toml().as_bytes(),
                force,
            )?;
            println!(
                "wrote {} and {}",
                secrets.display(),
                out.join("hub.pem").display()
            );
            println!("key_id = \"{}\"", key_id.as_str());
            println!("public_key = \"{}\"", pair.public_key().to_base64url());
            Ok(())
        }
        KeysCommand::Public { key } => {
            let pair = read_signing_key(&key)?;
            println!("public_key = \"{}\"", pair.public_key().to_base64url());
            Ok(())
        }
    }
}

/// Reads a PKCS#8 PEM signing key.
pub fn read_signing_key(path: &Path) -> anyhow::Result<SigningKeyPair> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read signing key {}", path.display()))?;
    SigningKeyPair::from_pkcs8_pem(&pem)
        .with_context(|| format!("{} is not an Ed25519 PKCS#8 PEM key", path.display()))
}

/// Writes a signing key as PKCS#8 PEM, readable only by the owner.
pub fn write_private(path: &Path, pair: &SigningKeyPair, force: bool) -> anyhow::Result<()> {
    let pem = pair.to_pkcs8_pem().context("cannot encode the key")?;
    write_secret_file(path, pem.as_bytes(), force)
}

/// Writes a file readable only by the owner, refusing to replace one unless `force`.
pub fn write_secret_file(path: &Path, contents: &[u8], force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to replace it", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
