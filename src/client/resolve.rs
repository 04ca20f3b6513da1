//! `resolve = "IP"`: every connection of a target goes to one address,
//! whatever its host names (`bucket.endpoint`, zonal names) resolve to, like
//! curl's `--resolve`. Host header, TLS name and signature keep the name.
//! Both request paths use it: the SDK's HTTP client and the direct path.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

/// For the SDK's HTTP client.
#[derive(Debug, Clone, Copy)]
pub struct FixedDns(pub IpAddr);

impl ResolveDns for FixedDns {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![self.0]))
    }
}

/// For the direct path's connector: the system resolver, or one address.
#[derive(Clone)]
pub enum Resolver {
    System(GaiResolver),
    Fixed(IpAddr),
}

type Addrs = std::vec::IntoIter<SocketAddr>;
type BoxFuture = Pin<Box<dyn Future<Output = std::io::Result<Addrs>> + Send>>;

impl Service<Name> for Resolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Resolver::System(g) => g.poll_ready(cx),
            Resolver::Fixed(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, name: Name) -> BoxFuture {
        match self {
            Resolver::System(g) => {
                let f = g.call(name);
                Box::pin(async move { Ok(f.await?.collect::<Vec<_>>().into_iter()) })
            }
            Resolver::Fixed(ip) => {
                // The connector sets the port from the URL.
                let addr = SocketAddr::new(*ip, 0);
                Box::pin(async move { Ok(vec![addr].into_iter()) })
            }
        }
    }
}
