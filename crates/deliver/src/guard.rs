//! The address guard: the resolver every delivery's connection goes through. It resolves the
//! endpoint's name and refuses the whole answer when any address in it is loopback, private,
//! link-local or otherwise not public (`rosetta_core::webhooks::is_private`), unless private targets
//! are allowed; the connection is then made to exactly the addresses it checked, so a name cannot
//! pass the check and connect elsewhere (DNS rebinding). Addresses written into a URL never reach a
//! resolver: the worker checks those itself.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rosetta_core::webhooks::is_private;

/// An endpoint refused because of where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub addr: IpAddr,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host == self.addr.to_string() {
            write!(f, "{} is a private, loopback or link-local address", self.addr)?;
        } else {
            write!(
                f,
                "{} resolves to {}, a private, loopback or link-local address",
                self.host, self.addr
            )?;
        }
        f.write_str(": refused (--allow-private-webhook-targets allows it)")
    }
}

impl std::error::Error for Refused {}

/// The resolver (see the module's docs). `fixed` answers some names without DNS, as curl's
/// `--resolve` does (tests, and deployments that pin an endpoint).
#[derive(Debug, Clone, Default)]
pub struct Guard {
    pub allow_private: bool,
    pub fixed: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl Guard {
    /// The addresses `host` may be reached at, or why it may not.
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs: Vec<SocketAddr> = match self.fixed.get(host) {
            Some(ips) => ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
            None => tokio::net::lookup_host((host, 0)).await?.collect(),
        };
        if !self.allow_private {
            if let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
                return Err(Box::new(Refused {
                    host: host.to_owned(),
                    addr: bad.ip(),
                }));
            }
        }
        if addrs.is_empty() {
            return Err(format!("{host} has no address").into());
        }
        Ok(addrs)
    }
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let addrs = guard.lookup(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
