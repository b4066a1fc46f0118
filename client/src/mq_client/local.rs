//! Which local address this host uses, for born hosts and unique ids.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// The local IP that routes towards the first NameServer given as an IP
/// literal. Connecting a UDP socket sends nothing; it only asks the kernel
/// for a route. Host names are not resolved here (that would block), and
/// any failure yields `0.0.0.0`: the address is informational only.
pub(super) fn local_ip(namesrv_addrs: &[String]) -> IpAddr {
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let Some(target) = namesrv_addrs
        .iter()
        .find_map(|a| a.parse::<SocketAddr>().ok())
    else {
        return unspecified;
    };
    let bind: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    UdpSocket::bind(bind)
        .and_then(|s| {
            s.connect(target)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_namesrv_gives_loopback_ip() {
        assert_eq!(
            local_ip(&["localhost:9876".into(), "127.0.0.1:9876".into()]),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert!(local_ip(&["namesrv:9876".into()]).is_unspecified());
    }
}
