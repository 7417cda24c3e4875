// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title DevnetTokenBase
/// @notice What every devnet token shares: balances, allowances, one minter, the ERC-20 reads,
/// `approve` and `transfer`. Each token brings its own checks (`_transfer`, `_approve`,
/// `transferFrom`, `initialize`, `mint`), so each keeps the revert strings of the token it stands for.
/// @dev No constructor or immutable state: the devnet places the runtime code with anvil_setCode.
abstract contract DevnetTokenBase {
    bytes32 internal constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    // secp256k1n / 2: signatures with a larger s are malleable copies and are refused.
    uint256 internal constant MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(address => uint256) internal _balances;
    mapping(address => mapping(address => uint256)) internal _allowances;
    uint256 internal _totalSupply;
    address internal _minter;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function minter() external view returns (address) {
        return _minter;
    }

    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    function approve(address spender, uint256 value) external returns (bool) {
        _approve(msg.sender, spender, value);
        return true;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function _mint(address to, uint256 amount) internal {
        _totalSupply += amount;
        _balances[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _transfer(address from, address to, uint256 value) internal virtual;

    function _approve(address owner, address spender, uint256 value) internal virtual;
}
