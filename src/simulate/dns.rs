//! The simulator's name server: authoritative for `sim.test.` (RFC 6761 reserves `.test`),
//! UDP and TCP on one loopback address, answering the A and AAAA records of the simulated
//! mirrors. Host names are what let one mirror have both an IPv4 and an IPv6 address, and
//! so a working IPv4 side beside a broken IPv6 one.
//!
//! The table is fixed at start (a broken IPv6 mirror keeps its AAAA record: that is the
//! fault), so it needs no lock. Records carry TTL 0: nothing may be cached.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

/// The zone served; every simulated host name ends in it.
pub const ZONE: &str = "sim.test.";

/// A name's addresses.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub a: Vec<Ipv4Addr>,
    pub aaaa: Vec<Ipv6Addr>,
}

/// The running server; dropping it stops it.
pub struct SimDns {
    addr: SocketAddr,
    server: Server<Handler>,
}

impl SimDns {
    /// Serve `names` (host names without the trailing dot) on `ip`, UDP and TCP on one port.
    pub async fn start(ip: Ipv4Addr, names: HashMap<String, Entry>) -> std::io::Result<SimDns> {
        let (udp, tcp) = bind_pair(ip).await?;
        let addr = udp.local_addr()?;
        let table = names.into_iter().map(|(k, v)| (key(&k), v)).collect();
        let mut server = Server::new(Handler {
            table: Arc::new(table),
            soa: soa_record(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Ok(SimDns { addr, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SimDns {
    fn drop(&mut self) {
        self.server.shutdown_token().cancel();
    }
}

/// A UDP socket on `ip` and a TCP listener on the same port (a few tries: the port UDP got
/// may be taken for TCP).
async fn bind_pair(ip: Ipv4Addr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(SocketAddr::from((ip, 0))).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port free for UDP and TCP")))
}

/// Lower case, absolute (trailing dot).
fn key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.ends_with('.') {
        true => lower,
        false => format!("{lower}."),
    }
}

fn soa_record() -> Option<Record> {
    let zone = Name::from_ascii(ZONE).ok()?;
    let mname = Name::from_ascii("ns.sim.test.").ok()?;
    let rname = Name::from_ascii("hostmaster.sim.test.").ok()?;
    Some(Record::from_rdata(
        zone,
        0,
        RData::SOA(SOA::new(mname, rname, 1, 60, 60, 600, 0)),
    ))
}

struct Answer {
    code: ResponseCode,
    answers: Vec<Record>,
    authority: Vec<Record>,
}

struct Handler {
    table: Arc<HashMap<String, Entry>>,
    soa: Option<Record>,
}

impl Handler {
    fn answer(&self, qname: &Name, qtype: RecordType) -> Answer {
        let name = key(&qname.to_ascii());
        let negative = |code| Answer {
            code,
            answers: Vec::new(),
            authority: self.soa.iter().cloned().collect(),
        };
        if name != ZONE && !name.ends_with(".sim.test.") {
            return Answer {
                authority: Vec::new(),
                ..negative(ResponseCode::Refused)
            };
        }
        let Some(entry) = self.table.get(&name) else {
            return match name == ZONE {
                true => negative(ResponseCode::NoError),
                false => negative(ResponseCode::NXDomain),
            };
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
        match answers.is_empty() {
            // NODATA: the name exists without records of this type (an IPv4-only mirror).
            true => negative(ResponseCode::NoError),
            false => Answer {
                code: ResponseCode::NoError,
                answers,
                authority: Vec::new(),
            },
        }
    }

    async fn handle<R: ResponseHandler>(&self, request: &Request, mut reply: R) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let builder = MessageResponseBuilder::from_message_request(request);
        let answer = match request.request_info() {
            Err(_) => Answer {
                code: ResponseCode::FormErr,
                answers: Vec::new(),
                authority: Vec::new(),
            },
            Ok(_) if request.metadata.op_code != OpCode::Query => Answer {
                code: ResponseCode::NotImp,
                answers: Vec::new(),
                authority: Vec::new(),
            },
            Ok(info) => {
                let question = info.query.original();
                self.answer(question.name(), question.query_type())
            }
        };
        metadata.response_code = answer.code;
        let none: &[Record] = &[];
        let response = builder.build(
            metadata,
            answer.answers.iter(),
            none.iter(),
            answer.authority.iter(),
            none.iter(),
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
