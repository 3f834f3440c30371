//! A real authoritative name server on loopback, for the simulator and for the tests: one zone
//! under `.test` (RFC 6761 reserves it), UDP and TCP on one `127.x.y.z:port`, answering from a
//! table that may change while it runs. Host names are what let one simulated mirror have
//! both an IPv4 and an IPv6 address, and so a working IPv4 side beside a broken IPv6 one.
//!
//! Every change takes effect on the very next query: nothing is cached here, records carry
//! TTL 0 and negative answers an SOA whose minimum is 0.
//!
//! Answers, per query (one question, opcode QUERY):
//! - a name marked with [`DnsServer::set_servfail`] → SERVFAIL (whether or not it exists);
//! - a name outside the zone → REFUSED (not authoritative);
//! - a name in the table → its A / AAAA records, or NOERROR with no answer (NODATA, SOA in
//!   the authority section) when it has none of that type;
//! - the apex → its SOA for SOA queries, NODATA otherwise;
//! - any other name in the zone → NXDOMAIN (SOA in the authority section).
//!
//! Built on hickory-server's `Server` with our own `RequestHandler` over a `Mutex`-guarded
//! table (no in-memory authority, so no serial numbers to bump). Tests use it as
//! [`FakeDns`].

mod fake;

pub use fake::{FakeDns, ZONE};

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

/// The simulator's zone; every simulated host name ends in it.
pub const SIM_ZONE: &str = "sim.test.";

/// A name's addresses.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub a: Vec<Ipv4Addr>,
    pub aaaa: Vec<Ipv6Addr>,
}

#[derive(Debug, Default)]
struct Table {
    names: HashMap<String, Entry>,
    servfail: HashSet<String>,
    /// `None`: queries are not logged (a long-running simulation must not grow a log).
    queries: Option<Vec<(String, String)>>,
}

/// The running server; dropping it stops it.
pub struct DnsServer {
    addr: SocketAddr,
    table: Arc<Mutex<Table>>,
    server: Server<Handler>,
}

impl DnsServer {
    /// Serve `zone` (absolute, e.g. `sim.test.`) on `ip`, UDP and TCP on one port, with an
    /// empty table. With `log_queries`, every question is remembered for [`Self::queries`].
    pub async fn start(ip: Ipv4Addr, zone: &str, log_queries: bool) -> io::Result<DnsServer> {
        let zone = key(zone);
        let soa = soa_record(&zone)?;
        let (udp, tcp) = bind_pair(ip).await?;
        let addr = udp.local_addr()?;
        let table = Arc::new(Mutex::new(Table {
            queries: log_queries.then(Vec::new),
            ..Table::default()
        }));
        let mut server = Server::new(Handler {
            table: Arc::clone(&table),
            suffix: format!(".{zone}"),
            zone,
            soa,
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Ok(DnsServer {
            addr,
            table,
            server,
        })
    }

    /// Where the server listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces both record sets of `name` (any case, trailing dot optional).
    pub fn set(&self, name: &str, entry: Entry) {
        self.lock().names.insert(key(name), entry);
    }

    /// Replaces the A records of `name` (created if new; AAAA records kept).
    pub fn set_a(&self, name: &str, addrs: &[Ipv4Addr]) {
        self.lock().names.entry(key(name)).or_default().a = addrs.to_vec();
    }

    /// Replaces the AAAA records of `name` (created if new; A records kept).
    pub fn set_aaaa(&self, name: &str, addrs: &[Ipv6Addr]) {
        self.lock().names.entry(key(name)).or_default().aaaa = addrs.to_vec();
    }

    /// Sets A and AAAA records from mixed addresses (both replaced).
    pub fn set_addrs(&self, name: &str, addrs: &[IpAddr]) {
        let mut entry = Entry::default();
        for ip in addrs {
            match ip {
                IpAddr::V4(v4) => entry.a.push(*v4),
                IpAddr::V6(v6) => entry.aaaa.push(*v6),
            }
        }
        self.set(name, entry);
    }

    /// The name vanishes: NXDOMAIN for every type.
    pub fn remove(&self, name: &str) {
        self.lock().names.remove(&key(name));
    }

    /// The name stays but has no AAAA: NOERROR/NODATA for AAAA.
    pub fn remove_aaaa(&self, name: &str) {
        if let Some(entry) = self.lock().names.get_mut(&key(name)) {
            entry.aaaa.clear();
        }
    }

    /// The name stays but has no A: NOERROR/NODATA for A.
    pub fn remove_a(&self, name: &str) {
        if let Some(entry) = self.lock().names.get_mut(&key(name)) {
            entry.a.clear();
        }
    }

    /// Answer SERVFAIL for `name` (every type) while `on`; the records are kept.
    pub fn set_servfail(&self, name: &str, on: bool) {
        let mut table = self.lock();
        if on {
            table.servfail.insert(key(name));
        } else {
            table.servfail.remove(&key(name));
        }
    }

    /// Queries received, in order: (name lowercased without the trailing dot, record type as
    /// in `"A"`, `"AAAA"`), UDP and TCP alike. Empty unless started with `log_queries`.
    pub fn queries(&self) -> Vec<(String, String)> {
        self.lock().queries.clone().unwrap_or_default()
    }

    /// The record types asked for `name` (any case, trailing dot optional).
    pub fn queries_for(&self, name: &str) -> Vec<String> {
        let wanted = display(&key(name));
        self.queries()
            .into_iter()
            .filter(|(n, _)| *n == wanted)
            .map(|(_, t)| t)
            .collect()
    }

    /// Forgets the query log.
    pub fn clear_queries(&self) {
        if let Some(log) = &mut self.lock().queries {
            log.clear();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Cancel the accept loops; dropping `server` (its JoinSet) aborts them all.
        self.server.shutdown_token().cancel();
    }
}

/// A UDP socket on `ip` and a TCP listener on the same port (a few tries: the port UDP got
/// may be taken for TCP).
async fn bind_pair(ip: Ipv4Addr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(SocketAddr::from((ip, 0))).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port free for both UDP and TCP")))
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Table key: lower case, absolute (trailing dot).
fn key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.ends_with('.') {
        true => lower,
        false => format!("{lower}."),
    }
}

/// Log form: without the trailing dot.
fn display(key: &str) -> String {
    key.strip_suffix('.').unwrap_or(key).to_string()
}

fn soa_record(zone: &str) -> io::Result<Record> {
    let name = |text: &str| {
        Name::from_ascii(text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{text}: {e}")))
    };
    Ok(Record::from_rdata(
        name(zone)?,
        0,
        RData::SOA(SOA::new(
            name(&format!("ns.{zone}"))?,
            name(&format!("hostmaster.{zone}"))?,
            1,
            60,
            60,
            600,
            0,
        )),
    ))
}

/// What to send back for one question.
struct Answer {
    code: ResponseCode,
    answers: Vec<Record>,
    authority: Vec<Record>,
}

impl Answer {
    fn code(code: ResponseCode) -> Answer {
        Answer {
            code,
            answers: Vec::new(),
            authority: Vec::new(),
        }
    }
}

struct Handler {
    table: Arc<Mutex<Table>>,
    zone: String,
    /// `.` + the zone: what every name inside it ends with.
    suffix: String,
    soa: Record,
}

impl Handler {
    /// Logs the question and looks it up (the lock is never held across `.await`).
    fn answer(&self, qname: &Name, qtype: RecordType) -> Answer {
        let key = key(&qname.to_ascii());
        let negative = |code| Answer {
            authority: vec![self.soa.clone()],
            ..Answer::code(code)
        };
        let mut table = lock(&self.table);
        if let Some(log) = &mut table.queries {
            log.push((display(&key), qtype.to_string()));
        }
        if table.servfail.contains(&key) {
            return Answer::code(ResponseCode::ServFail);
        }
        if key == self.zone {
            if qtype == RecordType::SOA {
                return Answer {
                    answers: vec![self.soa.clone()],
                    ..Answer::code(ResponseCode::NoError)
                };
            }
            return negative(ResponseCode::NoError);
        }
        if !key.ends_with(&self.suffix) {
            return Answer::code(ResponseCode::Refused);
        }
        let Some(entry) = table.names.get(&key) else {
            return negative(ResponseCode::NXDomain);
        };
        let answers: Vec<Record> = match qtype {
            RecordType::A => entry
                .a
                .iter()
                .map(|ip| Record::from_rdata(qname.clone(), 0, RData::A(A(*ip))))
                .collect(),
            RecordType::AAAA => entry
                .aaaa
                .iter()
                .map(|ip| Record::from_rdata(qname.clone(), 0, RData::AAAA(AAAA(*ip))))
                .collect(),
            _ => Vec::new(),
        };
        if answers.is_empty() {
            // NODATA: the name exists without records of this type (an IPv4-only mirror).
            return negative(ResponseCode::NoError);
        }
        Answer {
            answers,
            ..Answer::code(ResponseCode::NoError)
        }
    }

    async fn handle<R: ResponseHandler>(&self, request: &Request, mut reply: R) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let builder = MessageResponseBuilder::from_message_request(request);
        let answer = match request.request_info() {
            Err(_) => Answer::code(ResponseCode::FormErr),
            Ok(_) if request.metadata.op_code != OpCode::Query => {
                Answer::code(ResponseCode::NotImp)
            }
            Ok(info) => {
                let question = info.query.original();
                self.answer(question.name(), question.query_type())
            }
        };
        metadata.response_code = answer.code;
        let no_records: &[Record] = &[];
        let response = builder.build(
            metadata,
            answer.answers.iter(),
            no_records.iter(),
            answer.authority.iter(),
            no_records.iter(),
        );
        match reply.send_response(response).await {
            Ok(info) => info,
            Err(_) => ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            }),
        }
    }
}

impl RequestHandler for Handler {
    // `RequestHandler` is an `#[async_trait]`; this is its desugared form, so that no
    // `async-trait` dependency is needed.
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: ResponseHandler + 'async_trait,
        T: Time + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.handle(request, response_handle))
    }
}
