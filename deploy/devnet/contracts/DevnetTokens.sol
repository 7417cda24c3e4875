// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DevnetTokenBase} from "./DevnetTokenBase.sol";

/// @title DevnetERC20
/// @notice A plain 18-decimal ERC-20 without EIP-3009 or EIP-2612 (like DAI or USDT for x402: only
/// Permit2 can move it gaslessly). Minting is allowed to one minter, set once by `initialize`, so the
/// devnet can place the runtime code with anvil_setCode.
contract DevnetERC20 is DevnetTokenBase {
    function name() public pure virtual returns (string memory) {
        return "Devnet Token";
    }

    function symbol() external pure virtual returns (string memory) {
        return "DTK";
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function initialize(address newMinter) external {
        require(_minter == address(0), "DevnetERC20: already initialized");
        require(newMinter != address(0), "DevnetERC20: zero minter");
        _minter = newMinter;
    }

    function mint(address to, uint256 amount) external {
        require(msg.sender == _minter, "DevnetERC20: caller is not the minter");
        require(to != address(0), "DevnetERC20: mint to the zero address");
        _mint(to, amount);
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = _allowances[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "ERC20: insufficient allowance");
            _allowances[from][msg.sender] = allowed - value;
        }
        _transfer(from, to, value);
        return true;
    }

    function _transfer(address from, address to, uint256 value) internal override {
        require(to != address(0), "ERC20: transfer to the zero address");
        uint256 balance = _balances[from];
        require(balance >= value, "ERC20: transfer amount exceeds balance");
        _balances[from] = balance - value;
        _balances[to] += value;
        emit Transfer(from, to, value);
    }

    function _approve(address owner, address spender, uint256 value) internal override {
        require(spender != address(0), "ERC20: approve to the zero address");
        _allowances[owner][spender] = value;
        emit Approval(owner, spender, value);
    }
}

/// @title DevnetPermitToken
/// @notice DevnetERC20 plus EIP-2612 `permit` (EIP-712 domain name "Devnet Permit Token", version "1",
/// OpenZeppelin's custom errors), for Permit2 payments whose approval is itself a signature.
contract DevnetPermitToken is DevnetERC20 {
    bytes32 private constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    mapping(address => uint256) public nonces;

    error ERC2612ExpiredSignature(uint256 deadline);
    error ERC2612InvalidSigner(address signer, address owner);

    function name() public pure override returns (string memory) {
        return "Devnet Permit Token";
    }

    function symbol() external pure override returns (string memory) {
        return "DPT";
    }

    function version() public pure returns (string memory) {
        return "1";
    }

    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(
            abi.encode(
                EIP712_DOMAIN_TYPEHASH, keccak256(bytes(name())), keccak256(bytes(version())), block.chainid, address(this)
            )
        );
    }

    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        if (block.timestamp > deadline) revert ERC2612ExpiredSignature(deadline);
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonces[owner]++, deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), structHash));
        address signer = uint256(s) > MAX_S ? address(0) : ecrecover(digest, v, r, s);
        if (signer == address(0) || signer != owner) revert ERC2612InvalidSigner(signer, owner);
        _approve(owner, spender, value);
    }
}
