//! A TCP proxy that misbehaves on purpose: cuts responses after N bytes, throttles them, and logs each request head
//! (so a test can check that a resumed download asked for `Range: bytes=<committed offset>-`). No S3 server here
//! can do that itself.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What the proxy does to the next connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyFaults {
    /// Close a connection after this many response bytes...
    pub cut_after_bytes: Option<u64>,
    /// ...for this many connections (then behave).
    pub cuts_remaining: u32,
    /// Limit responses to this many bytes per second.
    pub bytes_per_second: Option<u64>,
}

#[derive(Default)]
struct State {
    faults: ProxyFaults,
    heads: Vec<String>,
    connections: u64,
    cuts: u64,
}

/// A running fault proxy in front of one upstream address. Dropping it stops accepting connections.
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FaultProxy {
    /// Listens on `listen` (use port 0 for any) and forwards to `upstream`.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, mut stopped) = oneshot::channel();
        let accept_state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        let state = accept_state.clone();
                        tokio::spawn(async move {
                            let _ = relay(client, upstream, state).await;
                        });
                    }
                }
            }
        });
        Ok(FaultProxy {
            address,
            state,
            stop: Some(stop),
        })
    }

    /// The proxy's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: ProxyFaults) {
        lock(&self.state).faults = faults;
    }

    /// Request heads seen so far (request line and headers), oldest first.
    pub fn request_heads(&self) -> Vec<String> {
        lock(&self.state).heads.clone()
    }

    /// Connections accepted and connections cut so far.
    pub fn connections_and_cuts(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.connections, state.cuts)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (cut_after, throttle) = {
        let mut state = lock(&state);
        state.connections += 1;
        let cut = if state.faults.cuts_remaining > 0 && state.faults.cut_after_bytes.is_some() {
            state.faults.cuts_remaining -= 1;
            state.faults.cut_after_bytes
        } else {
            None
        };
        (cut, state.faults.bytes_per_second)
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let head_state = state.clone();
    let requests = tokio::spawn(async move {
        let mut pending = Vec::new();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = client_read.read(&mut buffer).await?;
            if read == 0 {
                return server_write.shutdown().await;
            }
            pending.extend_from_slice(&buffer[..read]);
            // Requests through this proxy are downloads (no bodies): each head ends with a blank line.
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                lock(&head_state).heads.push(head);
                pending.drain(..end + 4);
            }
            if pending.len() > 64 * 1024 {
                pending.clear();
            }
            server_write.write_all(&buffer[..read]).await?;
        }
    });
    let mut sent: u64 = 0;
    let started = Instant::now();
    let mut buffer = vec![0u8; 16 * 1024];
    let result = loop {
        let read = match server_read.read(&mut buffer).await {
            Ok(0) => break Ok(()),
            Ok(read) => read,
            Err(error) => break Err(error),
        };
        let mut chunk = &buffer[..read];
        if let Some(limit) = cut_after {
            let allowed = limit.saturating_sub(sent) as usize;
            if chunk.len() >= allowed {
                chunk = &chunk[..allowed];
                let _ = client_write.write_all(chunk).await;
                lock(&state).cuts += 1;
                break Ok(());
            }
        }
        if let Err(error) = client_write.write_all(chunk).await {
            break Err(error);
        }
        sent += chunk.len() as u64;
        if let Some(rate) = throttle.filter(|&rate| rate > 0) {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    };
    requests.abort();
    let _ = client_write.shutdown().await;
    result
}
