// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// A hostile "token" for tests (never deployed by the devnet itself): it answers EIP-3009's views as a
/// real token does, but its transfer succeeds only at gas price 0 (how eth_estimateGas and eth_call
/// run without fee fields) and reverts on chain, burning the gas of whoever sent it.
contract GasPriceTrap {
    event Transfer(address indexed from, address indexed to, uint256 value);

    string public constant name = "Trap";
    string public constant version = "1";
    bytes32 public immutable DOMAIN_SEPARATOR;

    constructor() {
        DOMAIN_SEPARATOR = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(name)),
                keccak256(bytes(version)),
                block.chainid,
                address(this)
            )
        );
    }

    function authorizationState(address, bytes32) external pure returns (bool) {
        return false;
    }

    function balanceOf(address) external pure returns (uint256) {
        return type(uint128).max;
    }

    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256,
        uint256,
        bytes32,
        uint8,
        bytes32,
        bytes32
    ) external {
        require(tx.gasprice == 0, "GasPriceTrap: only free calls succeed");
        emit Transfer(from, to, value);
    }
}
