// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Multicall3
/// @notice Our implementation of Multicall3's `aggregate3` (its ABI, semantics and revert string),
/// placed at Multicall3's canonical address 0xcA11bde05977b3631167028862bE2a173976CA11 on the devnet,
/// where it is deployed on nearly every EVM chain. The worker calls it to deploy an ERC-6492 wallet
/// and settle its payment in one transaction.
contract Multicall3 {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory returnData) {
        returnData = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (bool success, bytes memory result) = calls[i].target.call(calls[i].callData);
            require(success || calls[i].allowFailure, "Multicall3: call failed");
            returnData[i] = Result(success, result);
        }
    }
}
