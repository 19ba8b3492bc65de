//! The etcd v3 gRPC messages this server sends and reads, written by hand as prost messages.
//!
//! Field numbers and types are those of etcd's API definition (`api/etcdserverpb/rpc.proto`,
//! `api/mvccpb/kv.proto`, stable since etcd 3.0, a few fields since 3.1/3.4 as noted). Only the
//! fields we set or read are declared: protobuf decoders skip fields they do not know, so a
//! response carrying more (newer servers, fields we ignore) still decodes. Hand-written instead
//! of generated so that building needs no `protoc`; the unit tests below pin every tag against
//! bytes worked out from the .proto field numbers, so a wrong tag fails a test, not a cluster.

use bytes::Bytes;

/// Every response's header: the store revision is all we read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseHeader {
    #[prost(uint64, tag = "1")]
    pub cluster_id: u64,
    #[prost(uint64, tag = "2")]
    pub member_id: u64,
    #[prost(int64, tag = "3")]
    pub revision: i64,
    #[prost(uint64, tag = "4")]
    pub raft_term: u64,
}

/// `mvccpb.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    #[prost(int64, tag = "4")]
    pub version: i64,
    /// `Bytes`: decoded as a view of the received buffer, not a copy (values reach 1.5 MiB).
    #[prost(bytes = "bytes", tag = "5")]
    pub value: Bytes,
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

/// `mvccpb.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EventType {
    Put = 0,
    Delete = 1,
}

/// `mvccpb.Event`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(enumeration = "EventType", tag = "1")]
    pub r#type: i32,
    #[prost(message, optional, tag = "2")]
    pub kv: Option<KeyValue>,
    /// Set when the watch asked for `prev_kv`.
    #[prost(message, optional, tag = "3")]
    pub prev_kv: Option<KeyValue>,
}

/// `KV.Range`: one key, or `[key, range_end)` when `range_end` is set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    /// 0: no limit.
    #[prost(int64, tag = "3")]
    pub limit: i64,
    /// 0: the current revision.
    #[prost(int64, tag = "4")]
    pub revision: i64,
    /// Only the count (and the header), no key-values.
    #[prost(bool, tag = "9")]
    pub count_only: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
    #[prost(bool, tag = "3")]
    pub more: bool,
    /// Keys in the range at the read revision (all of them, not only the `limit` returned).
    #[prost(int64, tag = "4")]
    pub count: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    /// etcd 3.1+.
    #[prost(bool, tag = "4")]
    pub prev_kv: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PutResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(message, optional, tag = "2")]
    pub prev_kv: Option<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteRangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    /// etcd 3.1+.
    #[prost(bool, tag = "3")]
    pub prev_kv: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteRangeResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(int64, tag = "2")]
    pub deleted: i64,
    #[prost(message, repeated, tag = "3")]
    pub prev_kvs: Vec<KeyValue>,
}

/// One operation of a transaction branch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    #[prost(oneof = "request_op::Request", tags = "1, 2, 3")]
    pub request: Option<request_op::Request>,
}

pub mod request_op {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Request {
        #[prost(message, tag = "1")]
        RequestRange(super::RangeRequest),
        #[prost(message, tag = "2")]
        RequestPut(super::PutRequest),
        #[prost(message, tag = "3")]
        RequestDeleteRange(super::DeleteRangeRequest),
    }
}

/// The answer to one `RequestOp`, in the same position.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseOp {
    #[prost(oneof = "response_op::Response", tags = "1, 2, 3")]
    pub response: Option<response_op::Response>,
}

pub mod response_op {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Response {
        #[prost(message, tag = "1")]
        ResponseRange(super::RangeResponse),
        #[prost(message, tag = "2")]
        ResponsePut(super::PutResponse),
        #[prost(message, tag = "3")]
        ResponseDeleteRange(super::DeleteRangeResponse),
    }
}

/// `Compare.CompareResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CompareResult {
    Equal = 0,
    Greater = 1,
    Less = 2,
    NotEqual = 3,
}

/// `Compare.CompareTarget`: which attribute of the key is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CompareTarget {
    Version = 0,
    Create = 1,
    Mod = 2,
    Value = 3,
}

/// A transaction guard: `target` of `key` compared with the value in `target_union`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compare {
    #[prost(enumeration = "CompareResult", tag = "1")]
    pub result: i32,
    #[prost(enumeration = "CompareTarget", tag = "2")]
    pub target: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    #[prost(oneof = "compare::TargetUnion", tags = "4, 5, 6")]
    pub target_union: Option<compare::TargetUnion>,
}

pub mod compare {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum TargetUnion {
        #[prost(int64, tag = "4")]
        Version(i64),
        #[prost(int64, tag = "5")]
        CreateRevision(i64),
        #[prost(int64, tag = "6")]
        ModRevision(i64),
    }
}

impl Compare {
    /// `create_revision(key) <op> revision`; `== 0` means "absent".
    pub fn create_revision(key: Vec<u8>, result: CompareResult, revision: i64) -> Self {
        Compare {
            result: result as i32,
            target: CompareTarget::Create as i32,
            key,
            target_union: Some(compare::TargetUnion::CreateRevision(revision)),
        }
    }

    /// `mod_revision(key) <op> revision`: the optimistic-concurrency guard.
    pub fn mod_revision(key: Vec<u8>, result: CompareResult, revision: i64) -> Self {
        Compare {
            result: result as i32,
            target: CompareTarget::Mod as i32,
            key,
            target_union: Some(compare::TargetUnion::ModRevision(revision)),
        }
    }
}

/// `KV.Txn`: `success` runs when every `compare` holds, `failure` otherwise, atomically.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
    #[prost(message, repeated, tag = "3")]
    pub responses: Vec<ResponseOp>,
}

impl RequestOp {
    pub fn range(request: RangeRequest) -> Self {
        RequestOp {
            request: Some(request_op::Request::RequestRange(request)),
        }
    }

    pub fn put(request: PutRequest) -> Self {
        RequestOp {
            request: Some(request_op::Request::RequestPut(request)),
        }
    }

    pub fn delete_range(request: DeleteRangeRequest) -> Self {
        RequestOp {
            request: Some(request_op::Request::RequestDeleteRange(request)),
        }
    }
}

/// `KV.Compact`: forgets every revision before `revision`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompactionRequest {
    #[prost(int64, tag = "1")]
    pub revision: i64,
    /// Answer only once the compaction is applied on the server's storage.
    #[prost(bool, tag = "2")]
    pub physical: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CompactionResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
}

/// One message on a `Watch.Watch` stream from the client.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchRequest {
    #[prost(oneof = "watch_request::RequestUnion", tags = "1, 2, 3")]
    pub request_union: Option<watch_request::RequestUnion>,
}

pub mod watch_request {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum RequestUnion {
        #[prost(message, tag = "1")]
        CreateRequest(super::WatchCreateRequest),
        #[prost(message, tag = "2")]
        CancelRequest(super::WatchCancelRequest),
        /// etcd 3.4+.
        #[prost(message, tag = "3")]
        ProgressRequest(super::WatchProgressRequest),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchCreateRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    /// The first revision delivered (inclusive); 0: from now on.
    #[prost(int64, tag = "3")]
    pub start_revision: i64,
    /// Periodic empty responses carrying the current revision while nothing changes.
    #[prost(bool, tag = "4")]
    pub progress_notify: bool,
    /// etcd 3.1+.
    #[prost(bool, tag = "6")]
    pub prev_kv: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchCancelRequest {
    #[prost(int64, tag = "1")]
    pub watch_id: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchProgressRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(int64, tag = "2")]
    pub watch_id: i64,
    #[prost(bool, tag = "3")]
    pub created: bool,
    #[prost(bool, tag = "4")]
    pub canceled: bool,
    /// Set on a watch canceled because its start revision is compacted: the oldest revision
    /// still available.
    #[prost(int64, tag = "5")]
    pub compact_revision: i64,
    /// etcd 3.4+.
    #[prost(string, tag = "6")]
    pub cancel_reason: String,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
}

/// `Maintenance.Status` of the member answering.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// The server's version, e.g. `3.5.13`.
    #[prost(string, tag = "2")]
    pub version: String,
}

#[cfg(test)]
mod tests {
    //! Expected bytes are written out from the .proto field numbers: a field's key byte is
    //! `field_number << 3 | wire_type` (0 varint, 2 length-delimited), so a wrong tag or type in
    //! a declaration above changes the bytes.
    use super::*;
    use prost::Message;

    /// Field key byte for fields 1..=15.
    fn key(field: u8, wire_type: u8) -> u8 {
        field << 3 | wire_type
    }
    const VARINT: u8 = 0;
    const LEN: u8 = 2;

    fn len_field(field: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128, "one-byte lengths only in these tests");
        let mut out = vec![key(field, LEN), body.len() as u8];
        out.extend_from_slice(body);
        out
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn range_request_fields() {
        let request = RangeRequest {
            key: b"/a".to_vec(),
            range_end: b"/b".to_vec(),
            limit: 5,
            revision: 7,
            count_only: true,
        };
        let expected = cat(&[
            &len_field(1, b"/a"),
            &len_field(2, b"/b"),
            &[key(3, VARINT), 5],
            &[key(4, VARINT), 7],
            &[key(9, VARINT), 1],
        ]);
        assert_eq!(request.encode_to_vec(), expected);
    }

    #[test]
    fn range_response_fields() {
        let header = cat(&[&[key(3, VARINT), 42]]);
        let kv = cat(&[
            &len_field(1, b"k"),
            &[key(2, VARINT), 3],
            &[key(3, VARINT), 4],
            &[key(4, VARINT), 2],
            &len_field(5, b"{}"),
            &[key(6, VARINT), 9],
        ]);
        let bytes = cat(&[
            &len_field(1, &header),
            &len_field(2, &kv),
            &[key(3, VARINT), 1],
            &[key(4, VARINT), 12],
        ]);
        let response = RangeResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(response.header.unwrap().revision, 42);
        assert_eq!(
            response.kvs,
            [KeyValue {
                key: b"k".to_vec(),
                create_revision: 3,
                mod_revision: 4,
                version: 2,
                value: Bytes::from_static(b"{}"),
                lease: 9,
            }]
        );
        assert!(response.more);
        assert_eq!(response.count, 12);
        // And back: the same bytes.
        assert_eq!(
            RangeResponse::decode(bytes.as_slice())
                .unwrap()
                .encode_to_vec(),
            bytes
        );
    }

    #[test]
    fn response_header_fields() {
        let header = ResponseHeader {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        };
        assert_eq!(
            header.encode_to_vec(),
            [
                key(1, VARINT),
                1,
                key(2, VARINT),
                2,
                key(3, VARINT),
                3,
                key(4, VARINT),
                4
            ]
        );
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // A RangeResponse with a field from a future etcd (number 15, varint) decodes.
        let bytes = cat(&[&[key(15, VARINT), 1], &[key(4, VARINT), 2]]);
        assert_eq!(RangeResponse::decode(bytes.as_slice()).unwrap().count, 2);
    }

    #[test]
    fn txn_request_with_compare_put_range_and_delete() {
        let txn = TxnRequest {
            compare: vec![
                Compare::create_revision(b"k".to_vec(), CompareResult::Equal, 0),
                Compare::mod_revision(b"k".to_vec(), CompareResult::Greater, 6),
            ],
            success: vec![RequestOp::put(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                prev_kv: true,
            })],
            failure: vec![
                RequestOp::range(RangeRequest {
                    key: b"k".to_vec(),
                    ..Default::default()
                }),
                RequestOp::delete_range(DeleteRangeRequest {
                    key: b"k".to_vec(),
                    range_end: Vec::new(),
                    prev_kv: true,
                }),
            ],
        };
        // result EQUAL (0) is the default and not sent; target CREATE = 1, MOD = 2; a oneof
        // member is sent even when 0 (create_revision == 0 is the "absent" guard).
        let create_guard = cat(&[
            &[key(2, VARINT), 1],
            &len_field(3, b"k"),
            &[key(5, VARINT), 0],
        ]);
        let mod_guard = cat(&[
            &[key(1, VARINT), 1],
            &[key(2, VARINT), 2],
            &len_field(3, b"k"),
            &[key(6, VARINT), 6],
        ]);
        let put = cat(&[
            &len_field(1, b"k"),
            &len_field(2, b"v"),
            &[key(4, VARINT), 1],
        ]);
        let range = len_field(1, b"k");
        let delete = cat(&[&len_field(1, b"k"), &[key(3, VARINT), 1]]);
        let expected = cat(&[
            &len_field(1, &create_guard),
            &len_field(1, &mod_guard),
            &len_field(2, &len_field(2, &put)),
            &len_field(3, &len_field(1, &range)),
            &len_field(3, &len_field(3, &delete)),
        ]);
        assert_eq!(txn.encode_to_vec(), expected);
    }

    #[test]
    fn txn_response_with_each_op_response() {
        let header = cat(&[&[key(3, VARINT), 8]]);
        let kv = cat(&[&len_field(1, b"k"), &[key(3, VARINT), 5]]);
        let range = cat(&[&len_field(2, &kv), &[key(4, VARINT), 1]]);
        let put = cat(&[&len_field(1, &header), &len_field(2, &kv)]);
        let delete = cat(&[&[key(2, VARINT), 1], &len_field(3, &kv)]);
        let bytes = cat(&[
            &len_field(1, &header),
            &[key(2, VARINT), 1],
            &len_field(3, &len_field(1, &range)),
            &len_field(3, &len_field(2, &put)),
            &len_field(3, &len_field(3, &delete)),
        ]);
        let response = TxnResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(response.header.as_ref().unwrap().revision, 8);
        assert!(response.succeeded);
        let kv = KeyValue {
            key: b"k".to_vec(),
            mod_revision: 5,
            ..Default::default()
        };
        use response_op::Response;
        match &response.responses[..] {
            [
                ResponseOp {
                    response: Some(Response::ResponseRange(range)),
                },
                ResponseOp {
                    response: Some(Response::ResponsePut(put)),
                },
                ResponseOp {
                    response: Some(Response::ResponseDeleteRange(delete)),
                },
            ] => {
                assert_eq!((range.kvs.as_slice(), range.count), (&[kv.clone()][..], 1));
                assert_eq!(put.prev_kv.as_ref(), Some(&kv));
                assert_eq!((delete.deleted, delete.prev_kvs.as_slice()), (1, &[kv][..]));
            }
            other => panic!("unexpected responses {other:?}"),
        }
    }

    #[test]
    fn watch_requests() {
        let create = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: b"/p/".to_vec(),
                    range_end: b"/p0".to_vec(),
                    start_revision: 10,
                    progress_notify: true,
                    prev_kv: true,
                },
            )),
        };
        let body = cat(&[
            &len_field(1, b"/p/"),
            &len_field(2, b"/p0"),
            &[key(3, VARINT), 10],
            &[key(4, VARINT), 1],
            &[key(6, VARINT), 1],
        ]);
        assert_eq!(create.encode_to_vec(), len_field(1, &body));

        let cancel = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CancelRequest(
                WatchCancelRequest { watch_id: 3 },
            )),
        };
        assert_eq!(cancel.encode_to_vec(), len_field(2, &[key(1, VARINT), 3]));

        // An empty message is still sent: field 3 with length 0.
        let progress = WatchRequest {
            request_union: Some(watch_request::RequestUnion::ProgressRequest(
                WatchProgressRequest {},
            )),
        };
        assert_eq!(progress.encode_to_vec(), [key(3, LEN), 0]);
    }

    #[test]
    fn watch_response_fields() {
        let header = cat(&[&[key(3, VARINT), 20]]);
        let kv = cat(&[
            &len_field(1, b"k"),
            &[key(2, VARINT), 19],
            &[key(3, VARINT), 20],
        ]);
        let prev = cat(&[&len_field(1, b"k"), &[key(3, VARINT), 19]]);
        let event = cat(&[
            &[key(1, VARINT), 1],
            &len_field(2, &kv),
            &len_field(3, &prev),
        ]);
        // events is field 11: key byte 11 << 3 | 2 = 0x5a.
        let bytes = cat(&[
            &len_field(1, &header),
            &[key(2, VARINT), 4],
            &[key(3, VARINT), 1],
            &[key(4, VARINT), 1],
            &[key(5, VARINT), 17],
            &len_field(6, b"why"),
            &len_field(11, &event),
        ]);
        assert_eq!(key(11, LEN), 0x5a);
        let response = WatchResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(response.header.unwrap().revision, 20);
        assert_eq!(response.watch_id, 4);
        assert!(response.created && response.canceled);
        assert_eq!(response.compact_revision, 17);
        assert_eq!(response.cancel_reason, "why");
        let event = &response.events[0];
        assert_eq!(event.r#type(), EventType::Delete);
        let kv = event.kv.as_ref().unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision), (19, 20));
        assert_eq!(event.prev_kv.as_ref().unwrap().mod_revision, 19);
    }

    #[test]
    fn compaction_and_status() {
        let compact = CompactionRequest {
            revision: 9,
            physical: true,
        };
        assert_eq!(
            compact.encode_to_vec(),
            [key(1, VARINT), 9, key(2, VARINT), 1]
        );
        assert_eq!(StatusRequest {}.encode_to_vec(), Vec::<u8>::new());
        let bytes = cat(&[
            &len_field(1, &[key(3, VARINT), 2]),
            &len_field(2, b"3.4.23"),
            // dbSize (3), a field we do not declare.
            &[key(3, VARINT), 100],
        ]);
        let status = StatusResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(status.version, "3.4.23");
        assert_eq!(status.header.unwrap().revision, 2);
        let compacted =
            CompactionResponse::decode(len_field(1, &[key(3, VARINT), 5]).as_slice()).unwrap();
        assert_eq!(compacted.header.unwrap().revision, 5);
    }

    #[test]
    fn put_and_delete_responses() {
        let kv = cat(&[&len_field(1, b"k")]);
        let put = PutResponse::decode(len_field(2, &kv).as_slice()).unwrap();
        assert_eq!(put.prev_kv.unwrap().key, b"k");
        let delete = DeleteRangeResponse::decode(
            cat(&[&[key(2, VARINT), 2], &len_field(3, &kv)]).as_slice(),
        )
        .unwrap();
        assert_eq!(delete.deleted, 2);
        assert_eq!(delete.prev_kvs[0].key, b"k");
    }
}
