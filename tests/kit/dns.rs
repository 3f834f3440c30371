//! A real authoritative DNS server on loopback for tests: [`FakeDns`] serves the
//! zone `test.` (RFC 6761 reserves `.test` for testing) over UDP and TCP on one
//! `127.x.y.z:port`, from a table that tests change while the daemon runs.
//!
//! Every change takes effect on the very next query: nothing is cached here,
//! records carry TTL 0 and negative answers an SOA whose minimum is 0.
//!
//! Answers, per query (one question, opcode QUERY):
//! - a name marked with `set_servfail(name, true)` → SERVFAIL (whether or not it exists);
//! - a name outside `test.` → REFUSED (not authoritative);
//! - a name in the table → its A / AAAA records, or NOERROR with no answer
//!   (NODATA, SOA in the authority section) when it has none of that type;
//! - the apex `test.` → its SOA for SOA queries, NODATA otherwise;
//! - any other name in the zone → NXDOMAIN (SOA in the authority section).
//!
//! Built on hickory-server's `Server` with our own `RequestHandler` over a
//! `Mutex`-guarded table (no in-memory authority, so no serial numbers to bump).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

/// The one zone served.
pub const ZONE: &str = "test.";

/// One name's records.
#[derive(Clone, Debug, Default)]
struct Entry {
    a: Vec<Ipv4Addr>,
    aaaa: Vec<Ipv6Addr>,
}

#[derive(Debug, Default)]
struct Table {
    names: HashMap<String, Entry>,
    servfail: HashSet<String>,
    queries: Vec<(String, String)>,
}

/// An authoritative server for `test.` on loopback (UDP and TCP, same port).
/// Dropping it stops the server.
pub struct FakeDns {
    addr: SocketAddr,
    table: Arc<Mutex<Table>>,
    server: Server<Handler>,
}

impl FakeDns {
    /// Binds `next_loopback_v4():0` for UDP and the same port for TCP.
    pub async fn start() -> FakeDns {
        let table = Arc::new(Mutex::new(Table::default()));
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().expect("udp local addr");
        let mut server = Server::new(Handler {
            table: Arc::clone(&table),
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        FakeDns {
            addr,
            table,
            server,
        }
    }

    /// Where the server listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the A records of `name` (created if new; AAAA records kept).
    pub fn set_a(&self, name: &str, addrs: &[Ipv4Addr]) {
        self.lock().names.entry(key(name)).or_default().a = addrs.to_vec();
    }

    /// Replaces the AAAA records of `name` (created if new; A records kept).
    pub fn set_aaaa(&self, name: &str, addrs: &[Ipv6Addr]) {
        self.lock().names.entry(key(name)).or_default().aaaa = addrs.to_vec();
    }

    /// Sets A or AAAA records from mixed addresses (both replaced).
    pub fn set_addrs(&self, name: &str, addrs: &[IpAddr]) {
        let mut entry = Entry::default();
        for ip in addrs {
            match ip {
                IpAddr::V4(v4) => entry.a.push(*v4),
                IpAddr::V6(v6) => entry.aaaa.push(*v6),
            }
        }
        self.lock().names.insert(key(name), entry);
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

    /// Queries received, in order: (name lowercased without the trailing dot,
    /// record type as in `"A"`, `"AAAA"`). UDP and TCP alike.
    pub fn queries(&self) -> Vec<(String, String)> {
        self.lock().queries.clone()
    }

    /// Queries received for `name` (any case, trailing dot optional).
    pub fn queries_for(&self, name: &str) -> Vec<String> {
        let wanted = display(&key(name));
        self.lock()
            .queries
            .iter()
            .filter(|(n, _)| *n == wanted)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Forgets the query log.
    pub fn clear_queries(&self) {
        self.lock().queries.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        // Cancel the accept loops; dropping `server` (its JoinSet) aborts them all.
        self.server.shutdown_token().cancel();
    }
}

/// A UDP socket on a fresh loopback address and a TCP listener on the same port.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let ip = super::next_loopback_v4();
        let udp = UdpSocket::bind(SocketAddr::from((ip, 0)))
            .await
            .expect("bind DNS UDP socket on loopback");
        let addr = udp.local_addr().expect("udp local addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP after 20 tries");
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Table key: lowercase, absolute (trailing dot).
fn key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

/// Log form: without the trailing dot.
fn display(key: &str) -> String {
    key.strip_suffix('.').unwrap_or(key).to_string()
}

fn in_zone(key: &str) -> bool {
    key == ZONE || key.ends_with(".test.")
}

fn soa_record() -> Record {
    let zone = Name::from_ascii(ZONE).expect("zone name");
    let mname = Name::from_ascii("ns.test.").expect("mname");
    let rname = Name::from_ascii("hostmaster.test.").expect("rname");
    Record::from_rdata(
        zone,
        0,
        RData::SOA(SOA::new(mname, rname, 1, 60, 60, 600, 0)),
    )
}

/// What to send back for one question.
struct Answer {
    code: ResponseCode,
    answers: Vec<Record>,
    soa: Vec<Record>,
}

impl Answer {
    fn code(code: ResponseCode) -> Answer {
        Answer {
            code,
            answers: Vec::new(),
            soa: Vec::new(),
        }
    }

    fn negative(code: ResponseCode) -> Answer {
        Answer {
            soa: vec![soa_record()],
            ..Answer::code(code)
        }
    }
}

struct Handler {
    table: Arc<Mutex<Table>>,
}

impl Handler {
    /// Logs the question and looks it up (the lock is never held across `.await`).
    fn answer(&self, qname: &Name, qtype: RecordType) -> Answer {
        let key = key(&qname.to_ascii());
        let mut table = lock(&self.table);
        table.queries.push((display(&key), qtype.to_string()));
        if table.servfail.contains(&key) {
            return Answer::code(ResponseCode::ServFail);
        }
        if !in_zone(&key) {
            return Answer::code(ResponseCode::Refused);
        }
        if key == ZONE {
            if qtype == RecordType::SOA {
                return Answer {
                    answers: vec![soa_record()],
                    ..Answer::code(ResponseCode::NoError)
                };
            }
            return Answer::negative(ResponseCode::NoError);
        }
        let Some(entry) = table.names.get(&key) else {
            return Answer::negative(ResponseCode::NXDomain);
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
            return Answer::negative(ResponseCode::NoError);
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
            answer.soa.iter(),
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
    // `RequestHandler` is an `#[async_trait]`; this is its desugared form, so
    // that the kit needs no `async-trait` dependency of its own.
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
