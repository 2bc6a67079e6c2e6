"""The knowledge base (知识库): departments' articles, searched with past answered tickets."""
