// The seed's own client code (shared/seeds/003_4b5bebe53feb9580.txt), copied verbatim: each
// function below is the exact text of the seed, byte for byte (the integration test checks that
// every function here occurs unchanged in the seed file). Only these comment lines were added.
// What the seed leaves undefined (base URL, getAccessToken, getPayout, listPayouts,
// getWalletTransactions, cancelPayout, showConfirmDialog, showNotification) is in glue.mjs.

async function safeCancelPayout(payoutId) {
// First, check current status
const checkResponse = await fetch(`/api/v1/payouts/${payoutId}`, {
headers: {
'Authorization': `Bearer ${getAccessToken()}`
}
});
const payout = await checkResponse.json();
// Check if cancellation is possible
const cancellableStatuses = ['created', 'queued', 'action_required'];
const maybeCancellable = ['processing'];
if (!cancellableStatuses.includes(payout.status) &&
!maybeCancellable.includes(payout.status)) {
throw new Error(`Payout cannot be cancelled - status is ${payout.status}`);
}
if (maybeCancellable.includes(payout.status)) {
console.warn('Payout is processing - cancellation may not succeed');
}
// Attempt cancellation
const cancelResponse = await fetch(`/api/v1/payouts/${payoutId}/cancel`, {
method: 'POST',
headers: {
'Authorization': `Bearer ${getAccessToken()}`
}
});
if (!cancelResponse.ok) {
const error = await cancelResponse.json();
throw new Error(error.message || 'Failed to cancel payout');
}
return await cancelResponse.json();
}

async function cancelMultiplePayouts(payoutIds) {
const results = {
cancelled: [],
failed: []
};
for (const payoutId of payoutIds) {
try {
const payout = await safeCancelPayout(payoutId);
results.cancelled.push({
id: payoutId,
refund: payout.total_amount
});
} catch (error) {
results.failed.push({
id: payoutId,
reason: error.message
});
}
}
return results;
}

async function cancelPayoutWithConfirmation(payoutId) {
// Fetch payout details
const payout = await getPayout(payoutId);
// Show confirmation dialog
const confirmed = await showConfirmDialog({
title: 'Cancel Payout?',
message: `Are you sure you want to cancel this payout?`,
details: [
`Amount: ${payout.amount} ${payout.currency}`,
`Beneficiary: ${payout.beneficiary.first_name} ${payout.beneficiary.last_name}`,
`Reference: ${payout.reference_id}`
],
confirmText: 'Yes, Cancel Payout',
cancelText: 'No, Keep It'
});
if (!confirmed) {
return null;
}
// Proceed with cancellation
const cancelledPayout = await cancelPayout(payoutId);
// Show success message
showNotification({
type: 'success',
message: `Payout cancelled. ${cancelledPayout.total_amount} ${cancelledPayout.currency} refunded to wallet.`
});
return cancelledPayout;
}

async function verifyCancellationRefund(payoutId) {
// Get cancelled payout
const payout = await getPayout(payoutId);
if (payout.status !== 'cancelled') {
throw new Error('Payout was not cancelled');
}
// Get wallet transactions
const transactions = await getWalletTransactions({
wallet_id: payout.wallet_id,
type: 'refund',
reference: payoutId
});
const refund = transactions.find(t =>
t.reference_id === payoutId &&
t.type === 'PAYOUT_REFUND'
);
if (refund) {
console.log('Refund confirmed:', refund);
return refund;
} else {
console.log('Refund pending or not found');
return null;
}
}

async function handleCancellation(payoutId) {
try {
const payout = await cancelPayout(payoutId);
return {
success: true,
payout
};
} catch (error) {
const errorMessage = error.message.toLowerCase();
if (errorMessage.includes('not found')) {
return {
success: false,
error: 'PAYOUT_NOT_FOUND',
message: 'The payout does not exist or you do not have access to it'
};
}
if (errorMessage.includes('cannot be cancelled') ||
errorMessage.includes('already been completed')) {
return {
success: false,
error: 'CANNOT_CANCEL',
message: 'This payout cannot be cancelled in its current state'
};
}
if (errorMessage.includes('unauthorized')) {
return {
success: false,
error: 'UNAUTHORIZED',
message: 'You are not authorized to cancel this payout'
};
}
return {
success: false,
error: 'UNKNOWN_ERROR',
message: error.message
};
}
}

async function handleDuplicatePayout(newReferenceId, duplicatePayoutId) {
console.log(`Duplicate detected: ${duplicatePayoutId}`);
// Check if the duplicate can be cancelled
const duplicate = await getPayout(duplicatePayoutId);
if (['created', 'queued'].includes(duplicate.status)) {
// Cancel the duplicate
await cancelPayout(duplicatePayoutId);
console.log('Duplicate cancelled');
} else {
console.log('Duplicate already processing - manual review needed');
}
}

async function emergencyCancel(clientId) {
// Get all pending payouts for a client
const payouts = await listPayouts({
status: 'created',
client_id: clientId
});
// Cancel all pending payouts
const results = await cancelMultiplePayouts(
payouts.map(p => p.id)
);
console.log(`Emergency cancel complete:
Cancelled: ${results.cancelled.length}
Failed: ${results.failed.length}`);
return results;
}
