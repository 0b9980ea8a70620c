package mongoerr

import (
	"slices"
	"testing"
)

func TestAddServerLabels(t *testing.T) {
	tests := []struct {
		name string
		code Code
		ctx  LabelContext
		want []string
	}{
		{"plain command gets none", NotWritablePrimary, LabelContext{}, nil},
		{"retryable write, retryable code", NotWritablePrimary, LabelContext{RetryableWrite: true}, []string{LabelRetryableWrite}},
		{"retryable write, other code", DuplicateKey, LabelContext{RetryableWrite: true}, nil},
		{"txn statement, write conflict", WriteConflict, LabelContext{InTransaction: true}, []string{LabelTransientTransaction}},
		{"txn statement, network", HostUnreachable, LabelContext{InTransaction: true}, []string{LabelTransientTransaction}},
		{"txn statement, NoSuchTransaction", NoSuchTransaction, LabelContext{InTransaction: true}, []string{LabelTransientTransaction}},
		{"commit, NoSuchTransaction with WCE", NoSuchTransaction, LabelContext{InTransaction: true, CommitOrAbort: true, WriteConcernError: true}, nil},
		{"commit, retryable code", PrimarySteppedDown, LabelContext{InTransaction: true, CommitOrAbort: true}, []string{LabelRetryableWrite}},
		{"txn statement, duplicate key", DuplicateKey, LabelContext{InTransaction: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(tt.code, "x").AddServerLabels(tt.ctx).Labels
			if !slices.Equal(got, tt.want) {
				t.Fatalf("labels %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWriteConcernErrorLabels(t *testing.T) {
	tests := []struct {
		name string
		code Code
		ctx  LabelContext
		want []string
	}{
		{"retryable write, retryable wce", ShutdownInProgress, LabelContext{RetryableWrite: true}, []string{LabelRetryableWrite}},
		{"txn statement, retryable wce: none", ShutdownInProgress, LabelContext{InTransaction: true}, nil},
		{"commit, retryable wce", ShutdownInProgress, LabelContext{InTransaction: true, CommitOrAbort: true}, []string{LabelRetryableWrite}},
		{"retryable write, timeout wce: none", WriteConcernFailed, LabelContext{RetryableWrite: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WriteConcernErrorLabels(tt.code, tt.ctx); !slices.Equal(got, tt.want) {
				t.Fatalf("labels %v, want %v", got, tt.want)
			}
		})
	}
}
