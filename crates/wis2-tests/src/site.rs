//! Where a test runs its chain: a broker of its own and the chain's folders in a
//! temporary root, with the chain started in-process or as processes.

use crate::broker::Broker;
use crate::process::ProcChain;
use crate::service::{Chain, ChainDirs};

/// A broker and a chain's folders.
pub struct Site {
    /// The broker every service of the chain connects to.
    pub broker: Broker,
    /// The chain's folders.
    pub dirs: ChainDirs,
}

impl Site {
    /// A fresh broker on a free port, and the folders.
    pub fn start() -> Site {
        Site::on(Broker::start())
    }

    /// The folders, on a broker the test started its own way.
    pub fn on(broker: Broker) -> Site {
        Site {
            broker,
            dirs: ChainDirs::temp(),
        }
    }

    /// The whole chain in-process, each service ready.
    pub async fn chain(&self) -> Chain {
        Chain::start(&self.broker, &self.dirs).await
    }

    /// The whole chain as processes, each ready, wis2-watch with `watch_extra` flags.
    pub async fn procs(&self, watch_extra: &[String]) -> ProcChain {
        ProcChain::start(&self.broker, &self.dirs, watch_extra).await
    }
}
