//! The flags every controller command shares (`-a`, `--timeout-ms`,
//! `--json`) and the client they make.

use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use ferromq_client::protocol::Rpc;
use ferromq_controller::ControllerClient;

/// Controller addresses, `host:port` separated by `;`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerAddrs(pub Vec<String>);

impl FromStr for ControllerAddrs {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let addrs = ControllerClient::parse_addrs(s);
        if addrs.is_empty() {
            return Err("no controller address".into());
        }
        for a in &addrs {
            let host_port = a
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !host_port {
                return Err(format!("{a} is not host:port"));
            }
        }
        Ok(Self(addrs))
    }
}

/// Flags of every controller command.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Controller address(es): host:port[;host:port]
    #[arg(
        short = 'a',
        long = "controllerAddress",
        env = "FERROMQ_CONTROLLER_ADDR"
    )]
    pub addrs: ControllerAddrs,
    /// How long a controller may take to answer, in milliseconds.
    #[arg(long = "timeout-ms", default_value_t = 3000)]
    pub timeout_ms: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ControllerArgs {
    /// The bound of each call and each dial.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// A client of every address: calls go to whichever node leads.
    pub fn client(&self) -> ControllerClient {
        ControllerClient::new(self.addrs.0.clone(), self.timeout())
    }

    /// Asks the leader; with `--json` prints its answer to `out` and
    /// returns `None` (the command has nothing more to print).
    ///
    /// # Errors
    /// No leader answered, it refused, or `out` failed.
    pub async fn call<R: Rpc>(
        &self,
        req: &R,
        out: &mut impl Write,
    ) -> anyhow::Result<Option<R::Response>>
    where
        R::Response: serde::Serialize,
    {
        let answer = self.client().call(req).await?;
        if self.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
            return Ok(None);
        }
        Ok(Some(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_port_lists() {
        let a: ControllerAddrs = "a:9878; b:9878,c:1".parse().unwrap();
        assert_eq!(a.0, ["a:9878", "b:9878", "c:1"]);
        assert!("".parse::<ControllerAddrs>().is_err());
        assert!(";".parse::<ControllerAddrs>().is_err());
        assert!("a".parse::<ControllerAddrs>().is_err());
        assert!("a:9878;b:x".parse::<ControllerAddrs>().is_err());
        assert!(":9878".parse::<ControllerAddrs>().is_err());
    }
}
