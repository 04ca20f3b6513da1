//! A replay phase's requests (`[phase.replay]`): each row of the schedule
//! names what to do and to which data set object; the worker loop paces
//! them open-loop on the schedule (see `Pacing::Replay`).

use crate::client::{ObjectClient, Outcome};
use crate::s3::OpKind;
use crate::scenario::{OpSpec, ReplayOp, ReplayRow, SizeDist};

use super::ops::{OpContext, WorkerState};

/// The report's op a replayed request is counted under.
pub(super) fn kind(op: ReplayOp) -> OpKind {
    match op {
        ReplayOp::Get => OpKind::Get,
        ReplayOp::RangedGet => OpKind::RangedGet,
        ReplayOp::Head => OpKind::Head,
        ReplayOp::Put => OpKind::Put,
        ReplayOp::MultipartPut => OpKind::MultipartPut,
        ReplayOp::Delete => OpKind::Delete,
        ReplayOp::List => OpKind::List,
        ReplayOp::Copy => OpKind::Copy,
    }
}

/// Sends one row's request.
pub(super) async fn execute<C: ObjectClient>(
    cx: &OpContext<'_, C>,
    row: &ReplayRow,
    st: &mut WorkerState,
) -> Outcome {
    match row.op {
        ReplayOp::Get => {
            cx.data_key(st, row.object);
            cx.client.get(&st.key, None).await
        }
        ReplayOp::RangedGet => {
            cx.data_key(st, row.object);
            // The range as logged, kept inside the object it maps onto.
            let size = cx.plan.object_size(row.object).max(1);
            let len = row.length.clamp(1, size);
            let off = row.offset.min(size - len);
            cx.client.get(&st.key, Some((off, off + len - 1))).await
        }
        ReplayOp::Head => {
            cx.data_key(st, row.object);
            cx.client.head(&st.key).await
        }
        // Writes, deletes and lists as the mix's ops do them: a PUT writes a
        // new key under the run prefix, a DELETE deletes what this worker
        // wrote (never the data set, which later reads need).
        ReplayOp::Put => {
            let size = Some(SizeDist::Fixed(row.length));
            cx.perform(&OpSpec::Put { size }, st).await
        }
        ReplayOp::MultipartPut => {
            let (size, part_size) = (row.length, row.part_size);
            cx.perform(&OpSpec::MultipartPut { size, part_size }, st)
                .await
        }
        ReplayOp::Delete => cx.perform(&OpSpec::Delete, st).await,
        ReplayOp::List => {
            let list = OpSpec::List {
                prefix: None,
                page_size: 1000,
                delimiter: false,
            };
            cx.perform(&list, st).await
        }
        ReplayOp::Copy => {
            cx.data_key(st, row.object);
            st.put_seq += 1;
            let dst = format!("{}copy/{}/{:08}", cx.run_prefix, st.id, st.put_seq);
            cx.client.copy(&st.key, &dst).await
        }
    }
}
