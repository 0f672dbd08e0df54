//! The store as `weir-core`'s [`KnowledgeRepo`]: the knowledge crate reads and writes
//! datasets, documents and chunks through it.

use weir_core::knowledge::{KeywordCandidate, KnowledgeRepo};
use weir_core::rows::{
    ChildChunkRow, DatasetCounts, DatasetRow, DocumentRow, IndexedChunk, NewSegment, RuleRow,
    SegmentRow, UploadFileRow, VectorHit,
};
use weir_core::{BoxError, BoxFuture};

use super::{boxed, Store};

impl KnowledgeRepo for Store {
    fn dataset<'a>(
        &'a self,
        workspace_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<DatasetRow>, BoxError>> {
        Box::pin(async move { Store::dataset(self, workspace_id, id).await.map_err(boxed) })
    }

    fn dataset_counts<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<DatasetCounts, BoxError>> {
        Box::pin(async move { Store::dataset_counts(self, id).await.map_err(boxed) })
    }

    fn document<'a>(
        &'a self,
        dataset_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<DocumentRow>, BoxError>> {
        Box::pin(async move { Store::document(self, dataset_id, id).await.map_err(boxed) })
    }

    fn documents_of<'a>(
        &'a self,
        dataset_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DocumentRow>, BoxError>> {
        Box::pin(async move { Store::documents_of(self, dataset_id).await.map_err(boxed) })
    }

    fn unfinished_documents(&self) -> BoxFuture<'_, Result<Vec<DocumentRow>, BoxError>> {
        Box::pin(async move { Store::unfinished_documents(self).await.map_err(boxed) })
    }

    fn unclaimed_documents(
        &self,
        now: i64,
        limit: i64,
    ) -> BoxFuture<'_, Result<Vec<DocumentRow>, BoxError>> {
        Box::pin(async move {
            Store::unclaimed_documents(self, now, limit)
                .await
                .map_err(boxed)
        })
    }

    fn claim_document<'a>(
        &'a self,
        document_id: &'a str,
        instance: &'a str,
        now: i64,
        until: i64,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        Box::pin(async move {
            Store::claim_document(self, document_id, instance, now, until)
                .await
                .map_err(boxed)
        })
    }

    fn release_document<'a>(
        &'a self,
        document_id: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            Store::release_document(self, document_id, instance)
                .await
                .map_err(boxed)
        })
    }

    fn save_document<'a>(&'a self, doc: &'a DocumentRow) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { Store::save_document(self, doc).await.map_err(boxed) })
    }

    fn replace_chunks<'a>(
        &'a self,
        doc: &'a DocumentRow,
        segments: &'a [NewSegment],
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            self.apply(Store::replace_chunks_stmts(doc, segments))
                .await
                .map(drop)
                .map_err(boxed)
        })
    }

    fn rule<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RuleRow>, BoxError>> {
        Box::pin(async move { Store::rule(self, id).await.map_err(boxed) })
    }

    fn upload_file<'a>(
        &'a self,
        workspace_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<UploadFileRow>, BoxError>> {
        Box::pin(async move {
            Store::upload_file(self, workspace_id, id)
                .await
                .map_err(boxed)
        })
    }

    fn segment_progress<'a>(
        &'a self,
        document_id: &'a str,
    ) -> BoxFuture<'a, Result<(i64, i64), BoxError>> {
        Box::pin(async move {
            Store::segment_progress(self, document_id)
                .await
                .map_err(boxed)
        })
    }

    fn segments_by_ids<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<SegmentRow>, BoxError>> {
        Box::pin(async move { Store::segments_by_ids(self, ids).await.map_err(boxed) })
    }

    fn child_chunks_of<'a>(
        &'a self,
        segment_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<ChildChunkRow>, BoxError>> {
        Box::pin(async move {
            Store::child_chunks_of(self, segment_ids)
                .await
                .map_err(boxed)
        })
    }

    fn indexable_vectors<'a>(
        &'a self,
        dataset_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<IndexedChunk>, BoxError>> {
        Box::pin(async move {
            Store::indexable_vectors(self, dataset_id)
                .await
                .map_err(boxed)
        })
    }

    fn nearest<'a>(
        &'a self,
        dataset_id: &'a str,
        query: &'a [f32],
        k: usize,
        documents: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<Option<Vec<VectorHit>>, BoxError>> {
        Box::pin(async move {
            Store::nearest(self, dataset_id, query, k, documents)
                .await
                .map_err(boxed)
        })
    }

    fn keyword_candidates<'a>(
        &'a self,
        dataset_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<KeywordCandidate>, BoxError>> {
        Box::pin(async move {
            Store::keyword_candidates(self, dataset_id)
                .await
                .map_err(boxed)
        })
    }

    fn full_text<'a>(
        &'a self,
        dataset_id: &'a str,
        terms: &'a [String],
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<(String, f64)>, BoxError>> {
        Box::pin(async move {
            Store::full_text(self, dataset_id, terms, limit)
                .await
                .map_err(boxed)
        })
    }

    fn count_hits<'a>(&'a self, segment_ids: &'a [String]) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { Store::count_hits(self, segment_ids).await.map_err(boxed) })
    }
}
